package cli

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
)

const (
	acrPullDef = "/subscriptions/" + testSub + "/providers/Microsoft.Authorization/roleDefinitions/7f951dda-4ed3-4680-a7ca-43fe172d538d"
	acrPushDef = "/subscriptions/" + testSub + "/providers/Microsoft.Authorization/roleDefinitions/8311e382-0749-4cb8-b61a-304f252e45ec"
	ownerDef   = "/subscriptions/" + testSub + "/providers/Microsoft.Authorization/roleDefinitions/8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
	raPath     = "/providers/Microsoft.Authorization/roleAssignments"
)

func userFixture(upn string) object {
	return object{"id": "oid-" + upn, "userPrincipalName": upn, "displayName": upn, "accountEnabled": true}
}

func spFixture() object {
	return object{"id": "oid-sp", "appId": "app-1", "displayName": "ci"}
}

func assignmentFixture(name, scope, principal, principalType, roleDef, roleName string) object {
	scope = expandPath(scope)
	return object{"id": scope + raPath + "/" + name, "name": name, "type": "Microsoft.Authorization/roleAssignments",
		"properties": object{"roleDefinitionId": roleDef, "roleDefinitionName": roleName, "principalId": principal, "principalType": principalType, "scope": scope}}
}

// echoAssignments answers PUTs of role assignments under scope with the
// assignment, as the server does.
func echoAssignments(f *fakeARM, scope string, status int) {
	f.handle(scope+raPath+"/", func(w http.ResponseWriter, r *http.Request) {
		if status >= 400 {
			writeTestJSON(w, status, armError("AuthorizationFailed", "the client does not have authorization"))
			return
		}
		var in object
		_ = json.NewDecoder(r.Body).Decode(&in)
		props := dig(in, "properties").(map[string]any)
		props["scope"] = r.URL.Path[:strings.Index(r.URL.Path, raPath)]
		in["id"], in["name"], in["type"] = r.URL.Path, r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:], "Microsoft.Authorization/roleAssignments"
		writeTestJSON(w, 201, in)
	})
}

func TestADRequests(t *testing.T) {
	f := newFakeARM(t)
	f.on("POST", "/graph/v1.0/users", 201, userFixture("alice"))
	f.on("GET", "/graph/v1.0/users", 200, list(userFixture("alice"), userFixture("bob")))
	f.on("GET", "/graph/v1.0/users/alice", 200, userFixture("alice"))
	f.on("DELETE", "/graph/v1.0/users/alice", 204, nil)
	f.on("GET", "/graph/v1.0/servicePrincipals", 200, list(spFixture()))
	f.on("GET", "/graph/v1.0/servicePrincipals/app-1", 200, spFixture())
	f.on("DELETE", "/graph/v1.0/servicePrincipals/app-1", 204, nil)
	tests := []struct {
		args   string
		want   want
		stdout string
	}{
		{"ad user create --user-principal-name alice --password longpassword --display-name Alice",
			want{method: "POST", path: "/graph/v1.0/users", body: object{"userPrincipalName": "alice", "displayName": "Alice", "accountEnabled": true, "passwordProfile": object{"password": "longpassword"}}},
			`"userPrincipalName": "alice"`},
		{"ad user list --upn BOB --query [].userPrincipalName -o tsv", want{method: "GET", path: "/graph/v1.0/users"}, "bob\n"},
		{"ad user list -o table", want{method: "GET", path: "/graph/v1.0/users"}, "AccountEnabled    DisplayName    UserPrincipalName\n"},
		{"ad user show --id alice", want{method: "GET", path: "/graph/v1.0/users/alice"}, `"id": "oid-alice"`},
		{"ad user delete --id alice", want{method: "DELETE", path: "/graph/v1.0/users/alice"}, ""},
		{"ad sp list -o table", want{method: "GET", path: "/graph/v1.0/servicePrincipals"}, "AppId    DisplayName\n-------  -------------\napp-1    ci\n"},
		{"ad sp show --id app-1 --query displayName -o tsv", want{method: "GET", path: "/graph/v1.0/servicePrincipals/app-1"}, "ci\n"},
		{"ad sp delete --id app-1", want{method: "DELETE", path: "/graph/v1.0/servicePrincipals/app-1"}, ""},
	}
	for _, tt := range tests {
		out := f.mustRun(argv(tt.args)...)
		reqs := f.requests()
		if len(reqs) != 1 || reqs[0].Method != tt.want.method || reqs[0].Path != tt.want.path || reqs[0].APIVersion != "" ||
			tt.want.body != nil && !jsonEqual(reqs[0].Body, tt.want.body) {
			t.Errorf("moat %s sent %+v, want %+v (and no api-version)", tt.args, reqs, tt.want)
		}
		if tt.stdout != "" && !strings.Contains(out, tt.stdout) || tt.stdout == "" && out != "" {
			t.Errorf("moat %s printed %q, want %q", tt.args, out, tt.stdout)
		}
	}
	for _, args := range []string{"ad user create --user-principal-name a", "ad user show", "ad sp delete"} {
		if _, errOut, code := f.run("", argv(args)...); code == 0 || !strings.HasPrefix(errOut, "ERROR: the following arguments are required") {
			t.Errorf("moat %s: %q", args, errOut)
		}
	}
}

func TestCreateForRBAC(t *testing.T) {
	f := newFakeARM(t)
	f.on("GET", "/graph/v1.0/servicePrincipals", 200, list())
	created := spFixture()
	created["password"], created["tenant"] = "s3cret", testTenant
	f.on("POST", "/graph/v1.0/servicePrincipals", 201, created)
	echoAssignments(f, regID, 201)
	echoAssignments(f, "~/resourceGroups/rg1", 201)
	reg, group := expandPath(regID), expandPath("~/resourceGroups/rg1")
	out, errOut, code := f.run("", "ad", "sp", "create-for-rbac", "--name", "ci", "--role", "acrpull", "--scopes", reg, group)
	if code != 0 {
		t.Fatal(errOut)
	}
	if !jsonEqual(json.RawMessage(out), object{"appId": "app-1", "displayName": "ci", "password": "s3cret", "tenant": testTenant}) {
		t.Errorf("printed %s", out)
	}
	for _, w := range []string{"WARNING: Creating 'AcrPull' role assignment under scope '" + reg + "'", "WARNING: The output includes credentials that you must protect."} {
		if !strings.Contains(errOut, w) {
			t.Errorf("stderr %q lacks %q", errOut, w)
		}
	}
	reqs := f.requests()
	if len(reqs) != 4 || reqs[1].Method != "POST" || !jsonEqual(reqs[1].Body, object{"displayName": "ci"}) {
		t.Fatalf("requests: %+v", reqs)
	}
	for i, scope := range []string{reg, group} {
		r := reqs[2+i]
		name := r.Path[strings.LastIndex(r.Path, "/")+1:]
		if _, err := uuid.Parse(name); err != nil || r.Method != "PUT" || r.Path != scope+raPath+"/"+name ||
			!jsonEqual(r.Body, object{"properties": object{"roleDefinitionId": acrPullDef, "principalId": "oid-sp", "principalType": "ServicePrincipal"}}) {
			t.Errorf("assignment %d: %+v", i, r)
		}
	}
	// Without --role and --scopes, no assignment.
	f.mustRun("ad", "sp", "create-for-rbac", "-n", "ci")
	for _, r := range f.requests() {
		if r.Method == "PUT" {
			t.Errorf("unexpected %s", r)
		}
	}
	tests := []struct{ args, want string }{
		{"ad sp create-for-rbac -n x --role AcrPull", "ERROR: usage error: to create role assignments, specify both --role and --scopes"},
		{"ad sp create-for-rbac -n x --scopes " + reg, "ERROR: usage error: to create role assignments, specify both --role and --scopes"},
		{"ad sp create-for-rbac -n x --role Nope --scopes " + reg, "ERROR: role 'Nope' doesn't exist; the built-in roles are Owner, Contributor"},
		{"ad sp create-for-rbac -n x --role AcrPull --scopes rg1", "ERROR: scope \"rg1\" is not a resource ID"},
	}
	for _, tt := range tests {
		if _, errOut, code := f.run("", argv(tt.args)...); code == 0 || !strings.HasPrefix(errOut, tt.want) {
			t.Errorf("moat %s: %q, want %q", tt.args, errOut, tt.want)
		}
	}
	if reqs := f.requests(); len(reqs) != 0 {
		t.Errorf("usage errors sent %v", reqs)
	}
	// An existing display name: moat cannot reset the secret.
	f.set("GET", "/graph/v1.0/servicePrincipals", 200, list(spFixture()))
	if _, errOut, _ := f.run("", "ad", "sp", "create-for-rbac", "-n", "CI"); !strings.Contains(errOut, `a service principal named "CI" already exists (appId app-1)`) {
		t.Errorf("existing name: %q", errOut)
	}
}

// TestCreateForRBACAssignmentFails: the secret is printed even when an
// assignment fails, since it is shown only once.
func TestCreateForRBACAssignmentFails(t *testing.T) {
	f := newFakeARM(t)
	f.on("GET", "/graph/v1.0/servicePrincipals", 200, list())
	created := spFixture()
	created["password"], created["tenant"] = "s3cret", testTenant
	f.on("POST", "/graph/v1.0/servicePrincipals", 201, created)
	echoAssignments(f, regID, 403)
	out, errOut, code := f.run("", "ad", "sp", "create-for-rbac", "-n", "ci", "--role", "AcrPush", "--scopes", expandPath(regID))
	if code == 0 || !strings.Contains(out, `"password": "s3cret"`) || !strings.Contains(errOut, "the service principal app-1 was created (its credentials are printed above), but assigning AcrPush") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestRoleAssignmentCreate(t *testing.T) {
	f := newFakeARM(t)
	f.on("GET", "/graph/v1.0/users/alice", 200, userFixture("alice"))
	f.on("GET", "/graph/v1.0/servicePrincipals/app-1", 200, spFixture())
	echoAssignments(f, "~", 201)
	echoAssignments(f, regID, 201)
	echoAssignments(f, "~/resourceGroups/rg1", 201)
	reg := expandPath(regID)
	out := f.mustRun("role", "assignment", "create", "--assignee", "app-1", "--role", "AcrPull", "--scope", reg)
	var v object
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatal(err)
	}
	if v["principalName"] != "app-1" || v["principalId"] != "oid-sp" || v["roleDefinitionName"] != "AcrPull" || v["scope"] != reg || v["resourceGroup"] != "rg1" || v["properties"] != nil {
		t.Errorf("printed %s", out)
	}
	reqs := f.requests()
	if len(reqs) != 3 || reqs[0].Path != "/graph/v1.0/users/app-1" || reqs[1].Path != "/graph/v1.0/servicePrincipals/app-1" ||
		!jsonEqual(reqs[2].Body, object{"properties": object{"roleDefinitionId": acrPullDef, "principalId": "oid-sp", "principalType": "ServicePrincipal"}}) {
		t.Errorf("requests %+v", reqs)
	}
	// A user, at a resource group given with -g, role by its GUID.
	f.mustRun("role", "assignment", "create", "--assignee", "alice", "--role", "8311e382-0749-4cb8-b61a-304f252e45ec", "-g", "rg1")
	reqs = f.requests()
	if last := reqs[len(reqs)-1]; !strings.HasPrefix(last.Path, expandPath("~/resourceGroups/rg1"+raPath+"/")) ||
		!jsonEqual(last.Body, object{"properties": object{"roleDefinitionId": acrPushDef, "principalId": "oid-alice", "principalType": "User"}}) {
		t.Errorf("request %+v", last)
	}
	// --assignee-object-id is used as is.
	f.mustRun("role", "assignment", "create", "--assignee-object-id", "oid-mi", "--assignee-principal-type", "ManagedIdentity", "--role", "Owner", "--scope", "/subscriptions/"+testSub)
	reqs = f.requests()
	if len(reqs) != 1 || !jsonEqual(reqs[0].Body, object{"properties": object{"roleDefinitionId": ownerDef, "principalId": "oid-mi", "principalType": "ManagedIdentity"}}) {
		t.Errorf("requests %+v", reqs)
	}
	tests := []struct{ args, want string }{
		{"role assignment create --assignee nobody --role AcrPull --scope " + reg, "ERROR: cannot find user or service principal in the directory for 'nobody'"},
		{"role assignment create --assignee alice --role AcrPull", "ERROR: the following arguments are required: --scope"},
		{"role assignment create --role AcrPull --scope " + reg, "ERROR: the following arguments are required: --assignee"},
		{"role assignment create --assignee alice --scope " + reg, "ERROR: the following arguments are required: --role"},
		{"role assignment create --assignee alice --role Boss --scope " + reg, "ERROR: role 'Boss' doesn't exist"},
		{"role assignment create --assignee alice --role AcrPull --scope " + reg + " -g rg1", "ERROR: usage error: --resource-group | --scope"},
	}
	for _, tt := range tests {
		if _, errOut, code := f.run("", argv(tt.args)...); code == 0 || !strings.HasPrefix(errOut, tt.want) {
			t.Errorf("moat %s: %q, want %q", tt.args, errOut, tt.want)
		}
	}
}

func roleFixtures(f *fakeARM) (atSub, atReg, atReg2 object) {
	atSub = assignmentFixture("a1", "~", "oid-admin", "User", ownerDef, "Owner")
	atReg = assignmentFixture("a2", regID, "oid-alice", "User", acrPushDef, "AcrPush")
	atReg2 = assignmentFixture("a3", regID, "oid-sp", "ServicePrincipal", acrPullDef, "")
	f.on("GET", "/graph/v1.0/users", 200, list(userFixture("admin"), userFixture("alice")))
	f.on("GET", "/graph/v1.0/servicePrincipals", 200, list(spFixture()))
	f.on("GET", "/graph/v1.0/users/alice", 200, userFixture("alice"))
	return
}

func TestRoleAssignmentList(t *testing.T) {
	f := newFakeARM(t)
	atSub, atReg, atReg2 := roleFixtures(f)
	// The subscription-wide list (what --all asks) and the lists at a scope
	// (the server answers atScope() with the scope and above).
	f.on("GET", "~"+raPath, 200, list(atSub, atReg, atReg2))
	f.on("GET", regID+raPath, 200, list(atSub, atReg, atReg2))
	reg := expandPath(regID)

	out := f.mustRun("role", "assignment", "list", "--all", "-o", "table")
	want := "Principal    Role     Scope\n" +
		"-----------  -------  " + strings.Repeat("-", len(reg)) + "\n" +
		"admin        Owner    /subscriptions/" + testSub + "\n" +
		"alice        AcrPush  " + reg + "\n" +
		"app-1        AcrPull  " + reg + "\n"
	if out != want {
		t.Errorf("--all -o table:\n%s\nwant:\n%s", out, want)
	}
	reqs := f.requests()
	if reqs[0].Path != expandPath("~"+raPath) || reqs[0].Query != "" {
		t.Errorf("--all sent %+v", reqs[0])
	}

	// Default: the assignments at the subscription itself.
	out = f.mustRun("role", "assignment", "list", "--query", "[].name", "-o", "tsv")
	if out != "a1\n" {
		t.Errorf("default list: %q", out)
	}
	if r := f.requests()[0]; r.Query != "%24filter=atScope%28%29" {
		t.Errorf("default list query %q", r.Query)
	}
	// At a scope: exactly there, or with --include-inherited also above.
	if out := f.mustRun("role", "assignment", "list", "--scope", reg, "--query", "[].name", "-o", "tsv"); out != "a2\na3\n" {
		t.Errorf("--scope: %q", out)
	}
	if out := f.mustRun("role", "assignment", "list", "--scope", reg, "--include-inherited", "--query", "[].name", "-o", "tsv"); out != "a1\na2\na3\n" {
		t.Errorf("--include-inherited: %q", out)
	}
	// --assignee resolves the principal and filters by it; --role by role.
	f.requests()
	if out := f.mustRun("role", "assignment", "list", "--scope", reg, "--assignee", "alice", "--query", "[].name", "-o", "tsv"); out != "a2\n" {
		t.Errorf("--assignee: %q", out)
	}
	for _, r := range f.requests() {
		if r.Path == reg+raPath && r.Query != "%24filter=atScope%28%29+and+principalId+eq+%27oid-alice%27" {
			t.Errorf("--assignee query %q", r.Query)
		}
	}
	if out := f.mustRun("role", "assignment", "list", "--all", "--role", "acrpull", "--query", "[].name", "-o", "tsv"); out != "a3\n" {
		t.Errorf("--role: %q", out)
	}
	// The JSON is flat, with principalName and roleDefinitionName, as az prints it.
	out = f.mustRun("role", "assignment", "list", "--all", "--query", "[2]")
	wantJSON := object{"id": reg + raPath + "/a3", "name": "a3", "type": "Microsoft.Authorization/roleAssignments", "principalId": "oid-sp", "principalName": "app-1",
		"principalType": "ServicePrincipal", "roleDefinitionId": acrPullDef, "roleDefinitionName": "AcrPull", "scope": reg, "resourceGroup": "rg1"}
	if !jsonEqual(json.RawMessage(out), wantJSON) {
		t.Errorf("json: %s\nwant %s", out, pretty(wantJSON))
	}
	if _, errOut, code := f.run("", "role", "assignment", "list", "--all", "--scope", reg); code == 0 || !strings.Contains(errOut, "not used with --all") {
		t.Errorf("--all --scope: %q", errOut)
	}
}

func TestRoleAssignmentDelete(t *testing.T) {
	f := newFakeARM(t)
	atSub, atReg, atReg2 := roleFixtures(f)
	f.on("GET", regID+raPath, 200, list(atSub, atReg, atReg2))
	reg := expandPath(regID)
	for _, a := range []object{atSub, atReg, atReg2} {
		f.on("DELETE", str(a, "id"), 200, a)
	}
	f.mustRun("role", "assignment", "delete", "--ids", str(atReg, "id"), str(atReg2, "id"))
	reqs := f.requests()
	if len(reqs) != 2 || reqs[0].Method != "DELETE" || reqs[0].Path != str(atReg, "id") || reqs[1].Path != str(atReg2, "id") {
		t.Errorf("--ids: %+v", reqs)
	}
	f.mustRun("role", "assignment", "delete", "--assignee", "alice", "--role", "AcrPush", "--scope", reg)
	var deleted []string
	for _, r := range f.requests() {
		if r.Method == "DELETE" {
			deleted = append(deleted, r.Path)
		}
	}
	if len(deleted) != 1 || deleted[0] != str(atReg, "id") {
		t.Errorf("deleted %v", deleted)
	}
	tests := []struct{ args, stdin, want string }{
		{"role assignment delete --assignee alice --role AcrPull --scope " + reg, "", "ERROR: no matched assignments were found to delete"},
		{"role assignment delete", "", "ERROR: please provide at least one of these arguments: --ids, --assignee, --role, --resource-group, --scope"},
		{"role assignment delete --scope " + reg, "n\n", "ERROR: operation cancelled"},
		{"role assignment delete --ids " + str(atReg, "id") + " --role AcrPull", "", "ERROR: usage error: --ids | --assignee --role --scope"},
		{"role assignment delete --ids /subscriptions/x", "", `ERROR: "/subscriptions/x" is not a role assignment ID`},
	}
	for _, tt := range tests {
		_, errOut, code := f.run(tt.stdin, argv(tt.args)...)
		if code == 0 || !strings.Contains(errOut, tt.want) {
			t.Errorf("moat %s: %q, want %q", tt.args, errOut, tt.want)
		}
	}
	for _, r := range f.requests() {
		if r.Method == "DELETE" {
			t.Errorf("a refused delete sent %s", r)
		}
	}
	// --yes deletes every assignment exactly at the scope.
	f.mustRun("role", "assignment", "delete", "--scope", reg, "--yes")
	deleted = nil
	for _, r := range f.requests() {
		if r.Method == "DELETE" {
			deleted = append(deleted, r.Path)
		}
	}
	if len(deleted) != 2 {
		t.Errorf("--scope --yes deleted %v", deleted)
	}
}

func TestACRCredential(t *testing.T) {
	f := newFakeARM(t)
	creds := object{"username": "reg1", "passwords": []any{object{"name": "password", "value": "pw1"}, object{"name": "password2", "value": "pw2"}}}
	f.on("POST", regID+"/listCredentials", 200, creds)
	f.on("POST", regID+"/regenerateCredential", 200, creds)
	out := f.mustRun("acr", "credential", "show", "-n", "reg1", "-g", "rg1", "-o", "table")
	if want := "USERNAME    PASSWORD    PASSWORD2\n----------  ----------  -----------\nreg1        pw1         pw2\n"; out != want {
		t.Errorf("table:\n%s\nwant:\n%s", out, want)
	}
	if out := f.mustRun("acr", "credential", "show", "-n", "reg1", "-g", "rg1", "--query", "passwords[1].value", "-o", "tsv"); out != "pw2\n" {
		t.Errorf("query: %q", out)
	}
	f.mustRun("acr", "credential", "renew", "-n", "reg1", "-g", "rg1", "--password-name", "PASSWORD2")
	reqs := f.requests()
	if len(reqs) != 3 || reqs[0].Method != "POST" || reqs[0].Path != expandPath(regID+"/listCredentials") ||
		reqs[2].Path != expandPath(regID+"/regenerateCredential") || !jsonEqual(reqs[2].Body, object{"name": "password2"}) {
		t.Errorf("requests %+v", reqs)
	}
	f.set("POST", regID+"/listCredentials", 400, armError("AdminUserDisabled", "admin user is disabled; enable it with moat acr update --name reg1 --admin-enabled true"))
	if _, errOut, _ := f.run("", "acr", "credential", "show", "-n", "reg1", "-g", "rg1"); errOut != "ERROR: (AdminUserDisabled) admin user is disabled; enable it with moat acr update --name reg1 --admin-enabled true\n" {
		t.Errorf("disabled: %q", errOut)
	}
	if _, errOut, _ := f.run("", "acr", "credential", "renew", "-n", "reg1", "--password-name", "pw3"); !strings.HasPrefix(errOut, `ERROR: argument --password-name: invalid choice "pw3"`) {
		t.Errorf("bad name: %q", errOut)
	}
}
