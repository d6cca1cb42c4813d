package azcli

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	jmespath "github.com/jmespath-community/go-jmespath"
)

const stepTimeout = 4 * time.Minute

// runner runs the steps of one scenario as one signed-in az user: each step
// in bash, in the scenario's AZURE_CONFIG_DIR, with an /etc/hosts of its own
// (unshare -m and a bind mount) that points moat's names at where it runs.
type runner struct {
	t     *testing.T
	srv   *moatServer
	work  string
	env   []string
	vars  map[string]string
	hosts map[string]string // on -> hosts file
	// failedLogin stops the scenario: nothing works without a sign-in.
	failedLogin bool
}

func newRunner(t *testing.T, srv *moatServer, kind string) *runner {
	t.Helper()
	work := filepath.Join(srv.dir, "az-"+kind)
	for _, d := range []string{work, filepath.Join(work, "home"), filepath.Join(work, "docker")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	shim, err := filepath.Abs(filepath.Join("testdata", "azshim"))
	if err != nil {
		t.Fatal(err)
	}
	armHost := fmt.Sprintf("%s:%d", suffix, srv.port)
	r := &runner{t: t, srv: srv, work: work, hosts: map[string]string{}, vars: map[string]string{
		"SUB": srv.sub, "TENANT": srv.tenant, "PORT": strconv.Itoa(srv.port), "SUFFIX": suffix,
		"ARM_BASE": "https://" + armHost, "ARM": "https://" + armHost + "/",
		"LOGIN_SERVER": fmt.Sprintf("mycontainerregistry.%s:%d", suffix, srv.port),
		"SUBNET_ID":    "/subscriptions/" + srv.sub + vmVNetPath + "/subnets/myDockerVMSubnet",
		"SP_ID":        srv.spID, "SP_SECRET": srv.spSecret, "USER": srv.user, "PASSWORD": srv.userSecret,
	}}
	r.vars["PRINCIPAL"] = srv.user
	if kind == "servicePrincipal" {
		r.vars["PRINCIPAL"] = srv.spID
	}
	r.env = []string{
		"PATH=" + toolsBin() + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=" + filepath.Join(work, "home"),
		"LANG=C.UTF-8",
		"AZURE_CONFIG_DIR=" + filepath.Join(work, "azure"),
		// az (Python requests) and crane (Go) trust moat's local CA.
		"REQUESTS_CA_BUNDLE=" + srv.ca,
		"SSL_CERT_FILE=" + srv.ca,
		// Debian's azure-cli 2.45 packaging bug (testdata/azshim/sitecustomize.py),
		// without writing its bytecode into the source tree.
		"PYTHONPATH=" + shim,
		"PYTHONDONTWRITEBYTECODE=1",
		// No telemetry, survey or online error help (the test is offline);
		// az group delete's (y/n) prompt answered as a script would.
		"AZURE_CORE_COLLECT_TELEMETRY=no",
		"AZURE_CORE_SURVEY_MESSAGE=no",
		"AZURE_CORE_ERROR_RECOMMENDATION=off",
		"AZURE_CORE_NO_COLOR=yes",
		"AZURE_CORE_DISABLE_CONFIRM_PROMPT=yes",
		"DOCKER_CONFIG=" + filepath.Join(work, "docker"),
		// Seed 003 sets these for its commands.
		"RESOURCE_GROUP=myResourceGroup",
		"REGISTRY_LOCATION=westus",
		"MOAT_ADMIN_PASSWORD=" + srv.password,
	}
	for _, on := range []string{onHost, onVM, onVMPublic} {
		names := []string{suffix, "mycontainerregistry." + suffix, "myregistry." + suffix, "mybaseregistry." + suffix,
			"runlogs.blob." + suffix} // task runs' log links
		// az acr check-health looks the login server up with its port
		// (gethostbyname("name:port"), az's assumption that a login server is
		// a bare host); a hosts alias with the port answers it. Not needed
		// on port 443 (docs/azure-cli.md).
		names = append(names, fmt.Sprintf("myregistry.%s:%d", suffix, srv.port))
		body := fmt.Sprintf("127.0.0.1 localhost\n%s %s\n", addressOf(on), strings.Join(names, " "))
		p := filepath.Join(work, "hosts-"+on)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		r.hosts[on] = p
	}
	return r
}

var varRE = regexp.MustCompile(`\{\{([A-Z_]+)\}\}`)

func (r *runner) expand(s string) string {
	return varRE.ReplaceAllStringFunc(s, func(m string) string {
		if v, ok := r.vars[m[2:len(m)-2]]; ok {
			return v
		}
		return "<" + m[2:len(m)-2] + " unset>"
	})
}

// expandAll expands the strings inside an expected YAML value.
func (r *runner) expandAll(v any) any {
	switch x := v.(type) {
	case string:
		return r.expand(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = r.expandAll(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = r.expandAll(e)
		}
		return out
	}
	return v
}

// result is what a step printed.
type result struct {
	stdout, stderr string
	exit           int
	requests       []string
}

// run runs one step and checks its output; a pending step's failure is a
// known gap, and its success an error (its mark must go).
func (r *runner) run(st step, login bool) {
	t := r.t
	t.Helper()
	if r.failedLogin {
		return
	}
	text := r.expand(st.text())
	res := r.exec(text, st.On)
	problems := r.check(st.Expect, res)
	r.capture(st, res)
	t.Logf("%s$ %s\n%s\n    moat saw: %s", where(st.On), text, indent(clip(res.stdout+res.stderr, 1500)), strings.Join(res.requests, ", "))
	cause := r.expand(st.Pending)
	switch {
	case st.Pending != "" && len(problems) == 0:
		t.Errorf("step %q is marked pending (%s) but passes now: remove the mark in testdata/seeds.yaml", st.title(), cause)
	case st.Pending != "":
		gaps.add("%s: %s\n    cause: %s\n    seen: %s\n    error: %s\n    requests: %s", t.Name(), r.expand(st.title()), cause,
			strings.Join(problems, "; "), errorLine(res.stderr), strings.Join(res.requests, ", "))
		t.Logf("KNOWN GAP (%s): %s", cause, strings.Join(problems, "; "))
	case len(problems) > 0:
		t.Errorf("%s$ %s\n%s\nexit %d\nstdout:\n%s\nstderr:\n%s\nmoat's requests:\n%s", where(st.On), text,
			strings.Join(problems, "\n"), res.exit, indent(clip(res.stdout, 4000)), indent(clip(res.stderr, 4000)),
			indent(strings.Join(res.requests, "\n")))
		r.failedLogin = login
	}
}

// errorLine is the error a command printed (az: "ERROR: ..."), if any.
func errorLine(stderr string) string {
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "ERROR:") || strings.HasPrefix(l, "Error:") {
			return clip(l, 400)
		}
	}
	return "(none)"
}

func where(on string) string {
	if on == "" || on == onHost {
		return ""
	}
	return "(" + on + ") "
}

// exec runs text with bash in a mount namespace whose /etc/hosts resolves
// moat's names to the address of `on`.
func (r *runner) exec(text, on string) result {
	if on == "" {
		on = onHost
	}
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "--mount", "--", "sh", "-c",
		`mount --bind "$1" /etc/hosts && exec bash -c "$2"`, "sh", r.hosts[on], text)
	cmd.Dir, cmd.Env = r.work, r.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	off := r.srv.logSize()
	err := cmd.Run()
	// The server logs a request as its response ends, which the client may
	// see first: wait a moment so that the step's requests are all logged.
	time.Sleep(150 * time.Millisecond)
	res := result{stdout: stdout.String(), stderr: stderr.String(), requests: r.srv.requestsSince(off)}
	if ee, ok := err.(*exec.ExitError); ok {
		res.exit = ee.ExitCode()
	} else if err != nil {
		res.exit, res.stderr = -1, res.stderr+err.Error()
	}
	if ctx.Err() != nil {
		res.stderr += fmt.Sprintf("\n(killed after %v)", stepTimeout)
	}
	return res
}

func (r *runner) check(e expect, res result) []string {
	var p []string
	if res.exit != e.Exit {
		p = append(p, fmt.Sprintf("exit status %d, want %d", res.exit, e.Exit))
	}
	out := strings.TrimRight(res.stdout, "\n")
	if e.Stdout != nil && out != r.expand(*e.Stdout) {
		p = append(p, fmt.Sprintf("stdout %q, want %q", clip(out, 300), r.expand(*e.Stdout)))
	}
	for _, s := range e.Contains {
		if !strings.Contains(res.stdout, r.expand(s)) {
			p = append(p, fmt.Sprintf("stdout lacks %q", r.expand(s)))
		}
	}
	for _, s := range e.StderrContains {
		if !strings.Contains(res.stderr, r.expand(s)) {
			p = append(p, fmt.Sprintf("stderr lacks %q", r.expand(s)))
		}
	}
	if e.NoStderr && res.stderr != "" {
		p = append(p, fmt.Sprintf("stderr %q, want none", clip(res.stderr, 300)))
	}
	if e.JSON == nil && e.Query == nil && e.JWT == nil {
		return p
	}
	var doc any
	if err := json.Unmarshal([]byte(res.stdout), &doc); err != nil {
		return append(p, fmt.Sprintf("stdout is not JSON: %v", err))
	}
	if e.JSON != nil {
		if want := normalize(r.expandAll(e.JSON)); !reflect.DeepEqual(doc, want) {
			p = append(p, fmt.Sprintf("JSON %s, want %s", compact(doc), compact(want)))
		}
	}
	exprs := make([]string, 0, len(e.Query))
	for k := range e.Query {
		exprs = append(exprs, k)
	}
	sort.Strings(exprs)
	for _, expr := range exprs {
		got, err := jmespath.Search(r.expand(expr), doc)
		if want := normalize(r.expandAll(e.Query[expr])); err != nil || !reflect.DeepEqual(normalize(got), want) {
			p = append(p, fmt.Sprintf("%s is %s, want %s", expr, compact(got), compact(want)))
		}
	}
	if e.JWT != nil {
		p = append(p, r.checkJWT(doc, e.JWT.Expr, e.JWT.Claims)...)
	}
	return p
}

func (r *runner) checkJWT(doc any, expr string, claims map[string]any) []string {
	v, _ := jmespath.Search(expr, doc)
	tok, _ := v.(string)
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return []string{fmt.Sprintf("%s is not a JWT", expr)}
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	var got map[string]any
	if err != nil || json.Unmarshal(payload, &got) != nil {
		return []string{fmt.Sprintf("%s: the JWT's claims do not decode", expr)}
	}
	var p []string
	for k, want := range claims {
		g := got[k]
		if a, ok := g.([]any); ok && len(a) == 1 { // aud: "x" and ["x"] are the same
			g = a[0]
		}
		if w := normalize(r.expandAll(want)); !reflect.DeepEqual(normalize(g), w) {
			p = append(p, fmt.Sprintf("the JWT at %s has %s %s, want %s", expr, k, compact(g), compact(w)))
		}
	}
	return p
}

func (r *runner) capture(st step, res result) {
	var doc any
	_ = json.Unmarshal([]byte(res.stdout), &doc)
	for name, expr := range st.Capture {
		if expr == "stdout" {
			r.vars[name] = strings.TrimSpace(res.stdout)
			continue
		}
		if v, err := jmespath.Search(expr, doc); err == nil {
			if s, ok := v.(string); ok {
				r.vars[name] = s
			}
		}
	}
}

// normalize makes a YAML or JMESPath value comparable with decoded JSON.
func normalize(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

func compact(v any) string {
	b, _ := json.Marshal(v)
	return clip(string(b), 600)
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

func indent(s string) string {
	if s == "" {
		return "    (nothing)"
	}
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ")
}
