package netrule

import (
	"net/netip"
	"testing"
)

func TestPrefixSetLongestMatch(t *testing.T) {
	s := NewPrefixSet[string]()
	s.Add(netip.MustParsePrefix("16.0.0.0/8"), "wide")
	s.Add(netip.MustParsePrefix("16.17.18.0/24"), "narrow")
	if v, _ := s.Lookup(netip.MustParseAddr("16.17.18.19")); v != "narrow" {
		t.Fatalf("got %s", v)
	}
	if v, _ := s.Lookup(netip.MustParseAddr("16.1.1.1")); v != "wide" {
		t.Fatalf("got %s", v)
	}
	if _, ok := s.Lookup(netip.MustParseAddr("17.1.1.1")); ok {
		t.Fatal("matched outside every prefix")
	}
	if _, ok := s.Lookup(netip.MustParseAddr("2001:db8::1")); ok {
		t.Fatal("IPv6 address matched an IPv4 prefix")
	}
}
