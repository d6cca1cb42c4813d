package netrule

import (
	"net/netip"
	"slices"
)

// PrefixSet finds which of a set of prefixes contains an address with one
// map lookup per distinct prefix length (at most 33 for IPv4, 129 for IPv6),
// however many prefixes there are. It is built once, then only read.
type PrefixSet[V any] struct {
	lens  []int // distinct lengths, longest first (most specific match wins)
	byLen map[int]map[netip.Addr]V
}

// NewPrefixSet returns an empty set.
func NewPrefixSet[V any]() *PrefixSet[V] { return &PrefixSet[V]{byLen: map[int]map[netip.Addr]V{}} }

// Add maps p (masked) to v.
func (s *PrefixSet[V]) Add(p netip.Prefix, v V) {
	p = p.Masked()
	m, ok := s.byLen[p.Bits()]
	if !ok {
		m = map[netip.Addr]V{}
		s.byLen[p.Bits()] = m
		s.lens = append(s.lens, p.Bits())
		slices.SortFunc(s.lens, func(a, b int) int { return b - a })
	}
	m[p.Addr()] = v
}

// Lookup returns the value of the longest prefix containing a.
func (s *PrefixSet[V]) Lookup(a netip.Addr) (V, bool) {
	for _, l := range s.lens {
		if l > a.BitLen() {
			continue
		}
		p, _ := a.Prefix(l)
		if v, ok := s.byLen[l][p.Addr()]; ok {
			return v, true
		}
	}
	var zero V
	return zero, false
}
