// Package tasks runs registry tasks and imports: a small task-file
// interpreter and an OCI copier that talks to the registries over the data
// plane like any client, so network rules, tokens and roles apply to it.
package tasks

import (
	"fmt"
	"strings"

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
	return r, nil
}
