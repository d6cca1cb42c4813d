package azcli

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// script is testdata/seeds.yaml: the sign-in steps of each kind of
// principal, and the seed documents' walkthroughs (see the file's header).
type script struct {
	Logins struct {
		ServicePrincipal []step `yaml:"servicePrincipal"`
		User             []step `yaml:"user"`
		Both             []step `yaml:"both"`
	} `yaml:"logins"`
	Scenarios []scenario `yaml:"scenarios"`
}

type scenario struct {
	Name  string `yaml:"name"`
	Steps []step `yaml:"steps"`
}

type step struct {
	Seeds    []string          `yaml:"seeds"`
	Seed     string            `yaml:"seed"`
	Subst    []subst           `yaml:"subst"`
	Cmd      string            `yaml:"cmd"`
	Setup    string            `yaml:"setup"`
	Replaced string            `yaml:"replaced"`
	On       string            `yaml:"on"`
	Expect   expect            `yaml:"expect"`
	Capture  map[string]string `yaml:"capture"`
	Pending  string            `yaml:"pending"`
}

type subst struct {
	From string `yaml:"from"`
	To   string `yaml:"to"`
}

type expect struct {
	Exit           int            `yaml:"exit"`
	Stdout         *string        `yaml:"stdout"`
	JSON           any            `yaml:"json"`
	Query          map[string]any `yaml:"query"`
	Contains       []string       `yaml:"contains"`
	StderrContains []string       `yaml:"stderrContains"`
	NoStderr       bool           `yaml:"noStderr"`
	JWT            *struct {
		Expr   string         `yaml:"expr"`
		Claims map[string]any `yaml:"claims"`
	} `yaml:"jwt"`
}

// Where a step runs (see vm_test.go).
const (
	onHost     = "host"
	onVM       = "vm"
	onVMPublic = "vm-public"
)

func loadScript(t *testing.T) *script {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "seeds.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var s script
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		t.Fatalf("testdata/seeds.yaml: %v", err)
	}
	for _, st := range s.allSteps() {
		if err := st.validate(); err != nil {
			t.Fatalf("testdata/seeds.yaml: step %q: %v", st.title(), err)
		}
	}
	return &s
}

func (s *script) allSteps() []step {
	all := append(append(append([]step{}, s.Logins.ServicePrincipal...), s.Logins.User...), s.Logins.Both...)
	for _, sc := range s.Scenarios {
		all = append(all, sc.Steps...)
	}
	return all
}

// text is the command line the step runs, before {{NAME}} expansion.
func (st step) text() string {
	if st.Cmd != "" {
		return st.Cmd
	}
	out := st.Seed
	for _, s := range st.Subst {
		out = strings.Replace(out, s.From, s.To, 1)
	}
	return out
}

// verbatim is the document's text of the step.
func (st step) verbatim() string {
	if st.Seed != "" {
		return st.Seed
	}
	return st.Cmd
}

func (st step) title() string {
	line, _, _ := strings.Cut(strings.TrimSpace(st.verbatim()), "\n")
	if strings.HasPrefix(line, "#") || line == "" {
		for _, l := range strings.Split(st.text(), "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
				return l
			}
		}
	}
	return line
}

func (st step) validate() error {
	switch {
	case len(st.Seeds) == 0 && st.Setup == "":
		return fmt.Errorf("neither seeds nor setup: say which document it is from, or why the harness runs it")
	case len(st.Seeds) > 0 && st.Setup != "":
		return fmt.Errorf("both seeds and setup")
	case st.Seed != "" && st.Cmd == "" && len(st.Subst) == 0:
		return fmt.Errorf("seed without subst or cmd: put the text in cmd")
	case st.Seed != "" && st.Cmd != "" && st.Replaced == "":
		return fmt.Errorf("a cmd that differs from the seed needs replaced: (why)")
	case st.Seed != "" && st.Cmd != "" && len(st.Subst) > 0:
		return fmt.Errorf("subst and cmd together")
	case st.Seed == "" && st.Cmd == "":
		return fmt.Errorf("no command")
	case st.On != "" && st.On != onHost && st.On != onVM && st.On != onVMPublic:
		return fmt.Errorf("on: %q (host, vm or vm-public)", st.On)
	}
	for _, s := range st.Subst {
		if strings.Count(st.Seed, s.From) != 1 {
			return fmt.Errorf("subst %q matches the seed %d times, not once", s.From, strings.Count(st.Seed, s.From))
		}
	}
	return nil
}

// seedLines are a seed document's lines without surrounding blanks.
func seedLines(t *testing.T, id string) []string {
	t.Helper()
	matches, _ := filepath.Glob(filepath.Join("testdata", "seeds", id+"_*.txt"))
	if len(matches) != 1 {
		t.Fatalf("seed %s: %d files in testdata/seeds", id, len(matches))
	}
	raw, err := os.ReadFile(matches[0])
	if err != nil {
		t.Fatal(err)
	}
	return trimmedLines(string(raw))
}

func trimmedLines(s string) []string {
	lines := strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSpace(l)
	}
	return lines
}

// contains reports whether want's lines appear, in a row, in doc.
func containsLines(doc, want []string) bool {
	for i := 0; i+len(want) <= len(doc); i++ {
		match := true
		for j, w := range want {
			if doc[i+j] != w {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}

// TestSeedCommandsVerbatim checks the testdata against the documents: each
// step's text is in the documents it names, and every `az` and `docker`
// command line of the documents is a step.
func TestSeedCommandsVerbatim(t *testing.T) {
	s := loadScript(t)
	covered := map[string]map[string]bool{} // seed -> trimmed line -> covered
	for _, st := range s.allSteps() {
		want := trimmedLines(st.verbatim())
		for _, id := range st.Seeds {
			doc := seedLines(t, id)
			if !containsLines(doc, want) {
				t.Errorf("step %q is not in seed %s as written:\n%s", st.title(), id, st.verbatim())
				continue
			}
			if covered[id] == nil {
				covered[id] = map[string]bool{}
			}
			for _, l := range want {
				covered[id][l] = true
			}
		}
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "seeds", "*.txt"))
	if len(files) == 0 {
		t.Fatal("no seed documents in testdata/seeds")
	}
	var missing []string
	for _, f := range files {
		id, _, _ := strings.Cut(filepath.Base(f), "_")
		for _, l := range seedLines(t, id) {
			if (strings.HasPrefix(l, "az ") || strings.HasPrefix(l, "docker ")) && !covered[id][l] {
				missing = append(missing, id+": "+l)
			}
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("a command of the seeds is in no step of testdata/seeds.yaml: %s", m)
	}
}
