// Package tasks runs registry tasks and imports: a small task-file
// interpreter and an OCI copier that talks to the registries over the data
// plane like any client, so network rules, tokens and roles apply to it.
package tasks

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/moat-registry/moat/internal/oci/names"
	"gopkg.in/yaml.v3"
)

// File is a task file (docs/tasks.md).
type File struct {
	Version string `yaml:"version"`
	Steps   []Step `yaml:"steps"`
}

// Step is one step: copy (from -> to), tag (from -> to, usually in one
// registry) or delete (ref).
type Step struct {
	Cmd  string `yaml:"cmd"`
	From string `yaml:"from"`
	To   string `yaml:"to"`
	Ref  string `yaml:"ref"`
}

// MaxFile bounds a task file.
const MaxFile = 64 << 10

// ParseFile parses and checks a task file.
func ParseFile(b []byte) (*File, error) {
	if len(b) > MaxFile {
		return nil, fmt.Errorf("the task file is larger than %d bytes", MaxFile)
	}
	b, err := lastVersion(b)
	if err != nil {
		return nil, fmt.Errorf("the task file is not valid YAML for a task: %v", err)
	}
	var f File
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("the task file is not valid YAML for a task: %v", err)
	}
	if len(f.Steps) == 0 {
		return nil, fmt.Errorf("the task file has no steps")
	}
	for i, s := range f.Steps {
		switch s.Cmd {
		case "copy", "tag":
			if s.From == "" || s.To == "" {
				return nil, fmt.Errorf("step %d (%s) needs from and to", i+1, s.Cmd)
			}
		case "delete":
			if s.Ref == "" {
				return nil, fmt.Errorf("step %d (delete) needs ref", i+1)
			}
		default:
			return nil, fmt.Errorf("step %d: unknown cmd %q (use copy, tag or delete)", i+1, s.Cmd)
		}
	}
	return &f, nil
}

// lastVersion keeps the last of several top-level "version" keys: az acr
// task create --file puts "version: v1.1.0" before the file's own text, as
// ACR's runner accepts. Any other duplicate key is left for the strict
// decoder to refuse.
func lastVersion(b []byte) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return b, nil
	}
	m := doc.Content[0]
	last, n := -1, 0
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == "version" {
			last, n = i, n+1
		}
	}
	if n < 2 {
		return b, nil
	}
	var kept []*yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value != "version" || i == last {
			kept = append(kept, m.Content[i], m.Content[i+1])
		}
	}
	m.Content = kept
	return yaml.Marshal(&doc)
}

// Expand replaces $Registry (and {{.Run.Registry}}) with the task's login
// server and $RunID with the run's ID.
func Expand(s, registry, runID string) string {
	r := strings.NewReplacer("{{.Run.Registry}}", registry, "$Registry", registry, "{{.Run.ID}}", runID, "$RunID", runID)
	return r.Replace(s)
}

// Ref is an image reference: host, repository and a tag or digest.
type Ref struct {
	Host, Repo, Tag, Digest string
}

func (r Ref) String() string {
	s := r.Host + "/" + r.Repo
	if r.Digest != "" {
		return s + "@" + r.Digest
	}
	return s + ":" + r.Tag
}

// Reference is the tag or digest.
func (r Ref) Reference() string {
	if r.Digest != "" {
		return r.Digest
	}
	return r.Tag
}

// ParseRef parses host/repo[:tag][@digest]; the host is required.
func ParseRef(s string) (Ref, error) {
	var r Ref
	host, rest, ok := strings.Cut(s, "/")
	if !ok || host == "" || rest == "" {
		return r, fmt.Errorf("image reference %q must be <login server>/<repository>[:tag|@digest]", s)
	}
	r.Host = strings.ToLower(host)
	if name, d, ok := strings.Cut(rest, "@"); ok {
		r.Digest, rest = d, name
	}
	if i := strings.LastIndexByte(rest, ':'); i > strings.LastIndexByte(rest, '/') {
		r.Tag, rest = rest[i+1:], rest[:i]
	}
	if r.Tag == "" && r.Digest == "" {
		r.Tag = "latest"
	}
	if rest == "" || strings.ToLower(rest) != rest {
		return r, fmt.Errorf("image reference %q: the repository must be lower case and not empty", s)
	}
	r.Repo = rest
	// The parts end up in request paths and the Host header: only what the
	// distribution grammar allows, so no "..", "?" or "@" can redirect a request.
	switch {
	case !validHost(r.Host):
		return r, fmt.Errorf("image reference %q: the login server must be a host name or IP with an optional :port", s)
	case !names.ValidRepository(r.Repo):
		return r, fmt.Errorf("image reference %q: the repository must be lower-case path components of letters and digits separated by '.', '_', '__' or '-'", s)
	case r.Tag != "" && !names.ValidTag(r.Tag):
		return r, fmt.Errorf("image reference %q: the tag must be 1-128 letters, digits, '_', '.' or '-' and not start with '.' or '-'", s)
	case r.Digest != "":
		if _, ok := names.ParseDigest(r.Digest); !ok {
			return r, fmt.Errorf("image reference %q: the digest must be algorithm:hex, e.g. sha256:<64 hex digits>", s)
		}
	}
	return r, nil
}

// validHost accepts host[:port] with a DNS name, an IPv4 address or a
// bracketed IPv6 address.
func validHost(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	if strings.HasPrefix(h, "[") {
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return false
		}
		if _, err := netip.ParseAddr(h[1:end]); err != nil {
			return false
		}
		h = "x" + h[end+1:]
	}
	name, port, hasPort := strings.Cut(h, ":")
	if hasPort {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
			return false
		}
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}
