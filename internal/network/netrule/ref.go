package netrule

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"

	"github.com/moat-registry/moat/internal/resid"
)

// RefKind is what an IP rule's value names.
type RefKind int

const (
	// RefPrefix: an address or CIDR prefix.
	RefPrefix RefKind = iota
	// RefIPGroup: a Microsoft.Network/ipGroups resource, by its ID.
	RefIPGroup
	// RefIPSet: an IP set the operator defines in the server's
	// configuration (the local equivalent of a service tag), by its name.
	RefIPSet
)

// Ref is an IP rule's value read once.
type Ref struct {
	Kind   RefKind
	Prefix netip.Prefix // RefPrefix
	// Key is the lower-cased IP group ID or IP set name (what lookups use);
	// Value is the rule's canonical text: the prefix as FormatIPRule writes
	// it, the group's ID in its canonical form, or the set's name.
	Key, Value string
}

// ipSetName is the grammar of IP set names: a letter, then letters, digits,
// '.', '_' or '-' (never an address: those start with a digit or a colon,
// or hold a colon).
var ipSetName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9._-]{0,79}$`)

// ValidIPSetName reports whether name may name an IP set.
func ValidIPSetName(name string) bool {
	return ipSetName.MatchString(name) && !strings.Contains(name, ":")
}

// ParseRef reads an IP rule's value: an IP group ID (/subscriptions/...), an
// IP set name, or else an address or prefix (ParseIPRule). The error says
// how to write the value.
func ParseRef(v string) (Ref, error) {
	v = strings.TrimSpace(v)
	switch {
	case strings.HasPrefix(v, "/"):
		id, err := resid.Parse(v)
		if err != nil || !id.Is("Microsoft.Network", "ipGroups") || id.IsCollection() || id.ResourceGroup == "" {
			return Ref{}, fmt.Errorf("%q is not an IP group ID (/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.Network/ipGroups/{name})", v)
		}
		canon := "/subscriptions/" + id.Subscription + "/resourceGroups/" + id.ResourceGroup + "/providers/Microsoft.Network/ipGroups/" + id.Name()
		return Ref{Kind: RefIPGroup, Key: strings.ToLower(canon), Value: canon}, nil
	case ValidIPSetName(v):
		return Ref{Kind: RefIPSet, Key: strings.ToLower(v), Value: v}, nil
	}
	p, err := ParseIPRule(v)
	if err != nil {
		return Ref{}, err
	}
	return Ref{Kind: RefPrefix, Prefix: p, Value: FormatIPRule(p)}, nil
}

// Sets gives the prefixes an IP group or IP set holds; ok is false when
// there is no such group or set.
type Sets interface {
	Expand(r Ref) (prefixes []netip.Prefix, ok bool)
}

// NoSets knows no groups and no sets.
type NoSets struct{}

func (NoSets) Expand(Ref) ([]netip.Prefix, bool) { return nil, false }

// Prefixes are the prefixes a rule allows: its own, or its group's or set's
// (none when that is unknown: an unknown name allows nothing).
func (r Ref) Prefixes(sets Sets) []netip.Prefix {
	if r.Kind == RefPrefix {
		return []netip.Prefix{r.Prefix}
	}
	if sets == nil {
		return nil
	}
	ps, _ := sets.Expand(r)
	return ps
}
