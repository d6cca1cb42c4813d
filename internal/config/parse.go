package config

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

var (
	timeDuration   = reflect.TypeOf(time.Duration(0))
	logFormatType  = reflect.TypeOf(LogFormat(""))
	kindType       = reflect.TypeOf(ListenerKind(0))
	prefixesType   = reflect.TypeOf([]netip.Prefix(nil))
	listenersType  = reflect.TypeOf([]Listener(nil))
	stringListType = reflect.TypeOf([]string(nil))
	ipSetsType     = reflect.TypeOf(map[string][]netip.Prefix(nil))
)

// setText sets dst from v as written in a flag, a variable, a default or a
// scalar of the file ("" leaves dst zero).
func (s setting) setText(dst reflect.Value, v string) error {
	if v == "" {
		return nil
	}
	switch dst.Type() {
	case timeDuration:
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return errors.New("is not a duration such as 1h or 30m (0 for none)")
		}
		dst.SetInt(int64(d))
		return nil
	case logFormatType: // checked here, set as a string below
		if f := LogFormat(v); f != LogText && f != LogJSON {
			return errors.New("must be json or text")
		}
	case kindType:
		i := slices.Index(kindNames, v)
		if i < 0 {
			return errors.New("must be public or virtualNetwork")
		}
		dst.SetInt(int64(i))
		return nil
	case listenersType: // --listen: one public listener
		dst.Set(reflect.ValueOf([]Listener{{Name: "default", Address: v, Kind: KindPublic}}))
		return nil
	case stringListType:
		dst.Set(reflect.ValueOf(strings.Split(v, ",")))
		return nil
	case prefixesType:
		var ps []netip.Prefix
		for _, p := range strings.Split(v, ",") {
			pre, err := prefix(p)
			if err != nil {
				return err
			}
			ps = append(ps, pre)
		}
		dst.Set(reflect.ValueOf(ps))
		return nil
	}
	switch dst.Kind() {
	case reflect.String:
		dst.SetString(v)
	case reflect.Bool:
		switch v {
		case "true", "1":
			dst.SetBool(true)
		case "false", "0":
			dst.SetBool(false)
		default:
			return errors.New("must be true or false")
		}
	case reflect.Int:
		n, err := strconv.Atoi(v)
		if err != nil {
			return s.limitErr()
		}
		return s.setInt(dst, n)
	default:
		return fmt.Errorf("config: no parser for %s", dst.Type()) // a new field type: add it here
	}
	return nil
}

func prefix(v string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(strings.TrimSpace(v))
	if err != nil {
		return p, fmt.Errorf("%q must be a CIDR prefix such as 192.0.2.10/32", v)
	}
	return p, nil
}

// setInt applies the rule of int settings: 0 is the default, -1 (where
// allowed) no limit, stored as 0.
func (s setting) setInt(dst reflect.Value, n int) error {
	switch {
	case n == 0 && s.def != "":
		return s.setText(dst, s.def)
	case n == -1 && s.unlimited:
		n = 0
	case n < 0:
		return s.limitErr()
	}
	dst.SetInt(int64(n))
	return nil
}

func (s setting) limitErr() error {
	if s.def == "" {
		return errors.New("must be a positive number or 0")
	}
	if s.unlimited {
		return fmt.Errorf("must be a positive number, 0 for the default (%s) or -1 for no limit", s.def)
	}
	return fmt.Errorf("must be a positive number (0 for the default, %s)", s.def)
}

// setNode sets dst from the file's node n (not null).
func (s setting) setNode(dst reflect.Value, n *yaml.Node) error {
	switch dst.Type() {
	case ipSetsType:
		return setIPSets(dst, n)
	case listenersType:
		if n.Kind == yaml.SequenceNode && len(n.Content) == 0 { // [] is the default, as absent
			return s.setText(dst, s.def)
		}
		return setListeners(dst, n)
	case stringListType, prefixesType:
		if n.Kind != yaml.SequenceNode {
			return errors.New("must be a list, e.g. [a, b]")
		}
		var vs []string
		for _, item := range n.Content {
			if item = deref(item); item.Kind != yaml.ScalarNode {
				return fmt.Errorf("line %d: must be a single value", item.Line)
			}
			vs = append(vs, item.Value)
		}
		if len(vs) == 0 { // [] is the default, as an absent list
			return s.setText(dst, s.def)
		}
		if dst.Type() == stringListType {
			dst.Set(reflect.ValueOf(vs))
			return nil
		}
		return s.setText(dst, strings.Join(vs, ","))
	}
	if n.Kind != yaml.ScalarNode {
		return errors.New("must be a single value")
	}
	switch dst.Type() {
	case timeDuration, logFormatType, kindType:
		return s.setText(dst, n.Value)
	}
	switch dst.Kind() {
	case reflect.Bool: // the YAML forms (true, yes, on, ...)
		var b bool
		if n.Decode(&b) != nil {
			return errors.New("must be true or false")
		}
		dst.SetBool(b)
		return nil
	case reflect.Int:
		var i int
		if n.Decode(&i) != nil {
			return s.limitErr()
		}
		return s.setInt(dst, i)
	}
	return s.setText(dst, n.Value)
}

// setIPSets sets the file's ipSets: a mapping of set names to lists of
// prefixes (checked further by Validate).
func setIPSets(dst reflect.Value, n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return errors.New("must be a mapping of set names to lists of prefixes, e.g. ci-runners: [203.0.113.0/24]")
	}
	sets := map[string][]netip.Prefix{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), deref(n.Content[i+1])
		if v.Kind != yaml.SequenceNode {
			return &entryError{line: v.Line, what: "ipSets " + k.Value, err: errors.New("must be a list of prefixes, e.g. [203.0.113.0/24, 198.51.100.7/32]")}
		}
		var ps []netip.Prefix
		for _, item := range v.Content {
			item = deref(item)
			p, err := prefix(item.Value)
			if item.Kind != yaml.ScalarNode || err != nil {
				return &entryError{line: item.Line, what: "ipSets " + k.Value, err: fmt.Errorf("%q must be a CIDR prefix such as 203.0.113.0/24", item.Value)}
			}
			ps = append(ps, p)
		}
		sets[k.Value] = ps
	}
	dst.Set(reflect.ValueOf(sets))
	return nil
}

// setListeners sets the file's listeners: entries; an entry's name defaults
// to listener<n>.
func setListeners(dst reflect.Value, n *yaml.Node) error {
	if n.Kind != yaml.SequenceNode {
		return errors.New("must be a list of listeners (name, address, kind, trustedProxies, virtualNetwork)")
	}
	ls := make([]Listener, len(n.Content))
	for i, item := range n.Content {
		item = deref(item)
		l := reflect.ValueOf(&ls[i]).Elem()
		for _, s := range listenerSettings {
			if v := lookup(item, s.key); v != nil {
				if err := s.setNode(l.FieldByIndex(s.index), v); err != nil {
					return &entryError{line: v.Line, what: fmt.Sprintf("listeners entry %d: %s", i+1, s.key), err: err}
				}
			}
		}
		if ls[i].Name == "" {
			ls[i].Name = fmt.Sprintf("listener%d", i+1)
		}
	}
	dst.Set(reflect.ValueOf(ls))
	return nil
}

// entryError is a bad value inside a list entry, at its own line.
type entryError struct {
	line int
	what string
	err  error
}

func (e *entryError) Error() string { return fmt.Sprintf("line %d: %s: %v", e.line, e.what, e.err) }
