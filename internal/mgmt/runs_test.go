package mgmt_test

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/moat-registry/moat/internal/auth/token"
	"github.com/moat-registry/moat/internal/mgmt"
	"github.com/moat-registry/moat/internal/store/meta/sqlite"
)

const taskVersion = "?api-version=2019-06-01-preview" // what az acr task sends

// azTaskBody is a task as az acr task create --file task.yaml --context
// /dev/null sends it: az puts "version: v1.1.0" before the file's text.
func azTaskBody(file string) obj {
	return obj{"location": "local", "properties": obj{
		"status": "Enabled", "platform": obj{"os": "linux", "architecture": "amd64"}, "agentConfiguration": obj{"cpu": 2}, "timeout": 3600,
		"step": obj{"type": "EncodedTask", "encodedTaskContent": base64.StdEncoding.EncodeToString([]byte("version: v1.1.0\n" + file)), "values": []any{}},
		"trigger": obj{"baseImageTrigger": obj{"baseImageTriggerType": "Runtime", "name": "defaultBaseimageTriggerName", "status": "Enabled",
			"updateTriggerPayloadType": "Default"}},
		"credentials": obj{}, "isSystemTask": false}}
}

// TestRunAPI: ACR's run API as az acr task run / list-runs / logs calls it:
// scheduleRun queues a run of a task, runs lists and shows it, and
// listLogSasUrl gives a link to its log, served as a blob.
func TestRunAPI(t *testing.T) {
	a := newAuthzEnv(t, func(h *mgmt.Handler, store *sqlite.Store) {
		keys, err := token.OpenKeys(context.Background(), store)
		if err != nil {
			t.Fatal(err)
		}
		h.LogSigner = keys
	})
	reg := regPath("runreg")
	a.as(a.admin, http.StatusCreated, "PUT", reg, registryBody("Premium", nil))
	task := a.as(a.admin, http.StatusOK, "PUT", reg+"/tasks/hello"+taskVersion,
		azTaskBody("version: v1.1.0\nsteps:\n  - cmd: tag\n    from: $Registry/hello:v1\n    to: $Registry/hello:$RunID\n"))
	if get(t, task, "properties", "step", "type") != "EncodedTask" || get(t, task, "properties", "platform", "os") != "linux" || get(t, task, "properties", "timeout") != 3600.0 {
		t.Errorf("task: %v", task)
	}
	a.as(a.admin, http.StatusOK, "POST", reg+"/tasks/hello/listDetails"+taskVersion, nil)
	for _, c := range []struct {
		body obj
		hint string
	}{
		{obj{"type": "EncodedTaskRunRequest", "encodedTaskContent": "eA=="}, "TaskRunRequest"},
		{obj{"type": "TaskRunRequest", "taskId": regPath("otherreg") + "/tasks/hello"}, "not a task of registry runreg"},
		{obj{"type": "TaskRunRequest", "taskId": reg + "/tasks/ghost"}, "does not exist"},
		{obj{"type": "TaskRunRequest", "taskId": reg + "/tasks/hello", "overrideTaskStepProperties": obj{"values": []any{obj{"name": "a"}}}}, "no overrides"},
	} {
		status, m := a.call(a.admin, "POST", reg+"/scheduleRun"+taskVersion, c.body)
		wantErr(t, status, m, 400, "InvalidParameter", c.hint)
	}
	run := a.as(a.admin, http.StatusOK, "POST", reg+"/scheduleRun"+taskVersion, obj{"type": "TaskRunRequest", "taskId": reg + "/tasks/hello",
		"overrideTaskStepProperties": obj{"arguments": []any{}, "values": []any{}}})
	if run["name"] != "ca1" || get(t, run, "properties", "runId") != "ca1" || get(t, run, "properties", "task") != "hello" || get(t, run, "properties", "log") != nil {
		t.Fatalf("queued run: %v", run)
	}
	a.h.Tasks.Wait()
	// The runner has no listener here: the run fails, with a log.
	run = a.as(a.admin, http.StatusOK, "GET", reg+"/runs/ca1"+taskVersion, nil)
	if get(t, run, "properties", "status") != "Failed" || !strings.Contains(get(t, run, "properties", "runErrorMessage").(string), "listener") ||
		get(t, run, "type") != "Microsoft.ContainerRegistry/registries/runs" || get(t, run, "properties", "platform", "os") != "linux" {
		t.Errorf("finished run: %v", run)
	}
	for filter, n := range map[string]int{"": 1, "TaskName eq 'hello'": 1, "TaskName eq 'HELLO' and Status eq 'Failed'": 1,
		"TaskName eq 'other'": 0, "contains(OutputImageManifests, 'hello@sha256:00')": 0} {
		q := taskVersion
		if filter != "" {
			q += "&$filter=" + url.QueryEscape(filter) + "&$top=15"
		}
		if got := length(t, a.as(a.admin, http.StatusOK, "GET", reg+"/runs"+q, nil), "value"); got != n {
			t.Errorf("runs with $filter %q: %d, want %d", filter, got, n)
		}
	}
	for _, q := range []string{"&$filter=" + url.QueryEscape("Task eq 'x'"), "&$filter=" + url.QueryEscape("TaskName eq x"), "&$top=0"} {
		if status, _ := a.call(a.admin, "GET", reg+"/runs"+taskVersion+q, nil); status != http.StatusBadRequest {
			t.Errorf("runs%s: %d, want 400", q, status)
		}
	}

	// The log link.
	link, err := url.Parse(a.as(a.admin, http.StatusOK, "POST", reg+"/runs/ca1/listLogSasUrl"+taskVersion, nil)["logLink"].(string))
	if err != nil || !strings.HasPrefix(link.Path, mgmt.RunLogPrefix+"runreg/ca1.log") || link.Query().Get("sig") == "" {
		t.Fatalf("log link %v: %v", link, err)
	}
	blob := func(method, uri string, hdr ...string) (*http.Response, string) {
		req, _ := http.NewRequest(method, a.srv.URL+uri, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := a.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, log := blob("GET", link.RequestURI())
	if resp.StatusCode != 200 || !strings.Contains(log, "run ca1 of task hello started") || resp.Header.Get("x-ms-meta-Complete") != "failed" {
		t.Fatalf("log: %d %v\n%s", resp.StatusCode, resp.Header, log)
	}
	if resp, _ = blob("HEAD", link.RequestURI()); resp.ContentLength != int64(len(log)) || resp.Header.Get("x-ms-blob-type") != "AppendBlob" {
		t.Errorf("HEAD: %d %v", resp.ContentLength, resp.Header)
	}
	if resp, part := blob("GET", link.RequestURI(), "x-ms-range", "bytes=4-9"); resp.StatusCode != 206 || part != log[4:10] ||
		resp.Header.Get("Content-Range") != "bytes 4-9/"+itoa(len(log)) {
		t.Errorf("range: %d %q %v", resp.StatusCode, part, resp.Header)
	}
	if resp, _ = blob("GET", link.RequestURI(), "x-ms-range", "bytes="+itoa(len(log))+"-"); resp.StatusCode != 416 {
		t.Errorf("range past the end: %d", resp.StatusCode)
	}
	// The link reads its run only, and only with its token.
	other := strings.Replace(link.RequestURI(), "/ca1.log", "/ca2.log", 1)
	noSig := link.Path
	forged := strings.Replace(link.RequestURI(), "sig=", "sig=x", 1)
	for _, uri := range []string{other, noSig, forged} {
		if resp, _ := blob("GET", uri); resp.StatusCode != http.StatusForbidden || resp.Header.Get("x-ms-error-code") != "AuthenticationFailed" {
			t.Errorf("GET %s: %d, want 403", uri, resp.StatusCode)
		}
	}
	if resp, _ := blob("DELETE", link.RequestURI()); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("DELETE of the log: %d", resp.StatusCode)
	}
	// A Reader lists runs but gets no log link (listLogSasUrl is an action).
	reader := a.user("runreader")
	a.grant(reader, "Reader", reg)
	a.as(reader, http.StatusOK, "GET", reg+"/runs"+taskVersion, nil)
	status, m := a.call(reader, "POST", reg+"/runs/ca1/listLogSasUrl"+taskVersion, nil)
	wantErr(t, status, m, http.StatusForbidden, "AuthorizationFailed")

	// moat runs tasks when asked: no timer or source triggers.
	body := azTaskBody("steps:\n  - cmd: delete\n    ref: $Registry/x:1\n")
	body["properties"].(obj)["trigger"] = obj{"timerTriggers": []any{obj{"name": "t", "schedule": "0 * * * *", "status": "Enabled"}}}
	status, m = a.call(a.admin, "PUT", reg+"/tasks/timed"+taskVersion, body)
	wantErr(t, status, m, 400, "TriggerNotSupported", "--schedule")
}

func itoa(n int) string { return strconv.Itoa(n) }
