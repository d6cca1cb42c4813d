package cli

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// newACRTask is `moat acr task` (az acr task): tasks that copy, tag and
// delete images with the task's managed identity (docs/tasks.md).
func newACRTask() *cobra.Command {
	regFlag := func(cmd *cobra.Command) { cmd.Flags().StringP("registry", "r", "", "name of the container registry") }
	taskFlags := func(cmd *cobra.Command) {
		regFlag(cmd)
		cmd.Flags().StringP("name", "n", "", "name of the task")
	}
	path := func(x *exec) (string, error) {
		p, err := x.registryPath("registry")
		if err != nil {
			return "", err
		}
		return p + "/tasks/" + x.str("name"), nil
	}
	create := leaf(spec{
		use: "create", short: "Create a task from a task file",
		example: "moat acr task create -r myregistry -n hello --file task.yaml --assign-identity",
		group:   true, required: []string{"registry/-r", "name/-n", "file/-f"},
		flags: func(cmd *cobra.Command) {
			taskFlags(cmd)
			cmd.Flags().StringP("file", "f", "", "the task file (YAML, docs/tasks.md)")
			cmd.Flags().String("assign-identity", "", "[system] for a system-assigned identity, or a user-assigned identity's resource ID")
			cmd.Flags().Lookup("assign-identity").NoOptDefVal = "[system]"
		},
		run: func(x *exec) (any, error) {
			p, err := path(x)
			if err != nil {
				return nil, err
			}
			raw, err := os.ReadFile(x.str("file"))
			if err != nil {
				return nil, err
			}
			body := object{"properties": object{"step": object{"type": "EncodedTask", "encodedTaskContent": base64.StdEncoding.EncodeToString(raw)}}}
			if id := x.str("assign-identity"); id != "" {
				if strings.EqualFold(id, "[system]") {
					body["identity"] = object{"type": "SystemAssigned"}
				} else {
					body["identity"] = object{"type": "UserAssigned", "userAssignedIdentities": object{id: object{}}}
				}
			}
			var out object
			return out, x.c.do(http.MethodPut, p, body, &out)
		},
	})
	credAdd := leaf(spec{
		use: "add", short: "Add credentials for a login server to a task",
		example: "moat acr task credential add -r myregistry -n hello --login-server base.example --use-identity [system]",
		group:   true, required: []string{"registry/-r", "name/-n", "login-server", "use-identity"},
		flags: func(cmd *cobra.Command) {
			taskFlags(cmd)
			cmd.Flags().String("login-server", "", "login server of the registry the task reaches")
			cmd.Flags().String("use-identity", "", "[system] or a user-assigned identity's client ID")
		},
		run: func(x *exec) (any, error) {
			p, err := path(x)
			if err != nil {
				return nil, err
			}
			body := object{"properties": object{"credentials": object{"customRegistries": object{
				x.str("login-server"): object{"identity": x.str("use-identity")}}}}}
			var out object
			if err := x.c.do(http.MethodPatch, p, body, &out); err != nil {
				return nil, err
			}
			return out["properties"].(map[string]any)["credentials"], nil
		},
	})
	show := leaf(spec{
		use: "show", short: "Show a task", group: true, required: []string{"registry/-r", "name/-n"}, flags: taskFlags,
		run: func(x *exec) (any, error) {
			p, err := path(x)
			if err != nil {
				return nil, err
			}
			out, _, err := x.c.get(p)
			return out, err
		},
	})
	list := leaf(spec{
		use: "list", short: "List the tasks of a registry", group: true, required: []string{"registry/-r"}, flags: regFlag,
		run: func(x *exec) (any, error) {
			p, err := x.registryPath("registry")
			if err != nil {
				return nil, err
			}
			return x.c.list(p + "/tasks")
		},
	})
	del := leaf(spec{
		use: "delete", short: "Delete a task and its identity", group: true, required: []string{"registry/-r", "name/-n"}, flags: taskFlags,
		run: func(x *exec) (any, error) {
			p, err := path(x)
			if err != nil {
				return nil, err
			}
			return nil, x.c.do(http.MethodDelete, p, nil, nil)
		},
	})
	run := leaf(spec{
		use: "run", short: "Run a task and print its log (--no-wait: queue it only)", group: true,
		required: []string{"registry/-r", "name/-n"},
		flags: func(cmd *cobra.Command) {
			taskFlags(cmd)
			cmd.Flags().Bool("no-wait", false, "do not wait for the run to finish")
		},
		run: func(x *exec) (any, error) {
			p, err := path(x)
			if err != nil {
				return nil, err
			}
			rp, _ := x.registryPath("registry")
			var r object
			if err := x.c.do(http.MethodPost, rp+"/scheduleRun", object{"type": "TaskRunRequest", "taskId": p}, &r); err != nil {
				return nil, err
			}
			if nw, _ := x.cmd.Flags().GetBool("no-wait"); nw {
				return r, nil
			}
			return x.waitRun(rp + "/runs/" + str(r, "name"))
		},
	})
	listRuns := leaf(spec{
		use: "list-runs", short: "List the runs of a registry's tasks (newest first)", group: true, required: []string{"registry/-r"},
		flags: taskFlags,
		run: func(x *exec) (any, error) {
			p, err := x.registryPath("registry")
			if err != nil {
				return nil, err
			}
			p += "/runs"
			if n := x.str("name"); n != "" {
				p += "?$filter=" + url.QueryEscape("TaskName eq '"+strings.ReplaceAll(n, "'", "''")+"'")
			}
			items, err := x.c.list(p)
			for i, it := range items {
				if o, ok := it.(object); ok {
					items[i] = flatten(o)
				}
			}
			return items, err
		},
	})
	logs := leaf(spec{
		use: "logs", short: "Print the log of a run", group: true, required: []string{"registry/-r", "run-id"},
		flags: func(cmd *cobra.Command) {
			regFlag(cmd)
			cmd.Flags().String("run-id", "", "the run's ID (e.g. ca1)")
		},
		run: func(x *exec) (any, error) {
			p, err := x.registryPath("registry")
			if err != nil {
				return nil, err
			}
			log, err := x.runLog(p + "/runs/" + x.str("run-id"))
			if err != nil {
				return nil, err
			}
			fmt.Fprint(x.cmd.OutOrStdout(), log)
			return nil, nil
		},
	})
	return parent("task", "Manage registry tasks", create, show, list, del, run, listRuns, logs,
		parent("credential", "Manage a task's credentials for other registries", credAdd))
}

// waitRun waits for a run to end, prints its log and answers the run; a
// run that did not succeed is an error.
func (x *exec) waitRun(runPath string) (any, error) {
	for i := 0; i < 7200; i++ {
		cur, _, err := x.c.get(runPath)
		if err != nil {
			return nil, err
		}
		if st := str(cur, "properties", "status"); st != "Queued" && st != "Running" {
			log, err := x.runLog(runPath)
			if err != nil {
				return nil, err
			}
			fmt.Fprint(x.cmd.ErrOrStderr(), log)
			if st != "Succeeded" {
				//lint:ignore ST1005 the text az acr prints when a run fails
				return nil, fmt.Errorf("Run ID: %s failed (%s): %s", str(cur, "name"), st, str(cur, "properties", "runErrorMessage"))
			}
			return cur, nil
		}
		time.Sleep(500 * time.Millisecond)
	}
	return nil, fmt.Errorf("the run at %s did not finish; see moat acr task logs", runPath)
}

// runLog reads a run's log through its log link. The link's host may be the
// server's blob name (runlogs.blob.<suffix>, for az): the CLI asks the
// server it talks to, which serves the link's path whatever the host.
func (x *exec) runLog(runPath string) (string, error) {
	var out struct {
		LogLink string `json:"logLink"`
	}
	if err := x.c.do(http.MethodPost, runPath+"/listLogSasUrl", nil, &out); err != nil {
		return "", err
	}
	link, err := url.Parse(out.LogLink)
	if err != nil || out.LogLink == "" {
		return "", fmt.Errorf("the server answered no usable log link for %s", runPath)
	}
	req, err := http.NewRequest(http.MethodGet, x.c.base+link.RequestURI(), nil)
	if err != nil {
		return "", err
	}
	resp, body, err := x.c.roundTrip(req)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("reading the log of %s: the server answered %s", runPath, resp.Status)
	}
	return string(body), nil
}

// acrImport is `moat acr import`: a server-side copy into a registry.
func acrImport() *cobra.Command {
	return leaf(spec{
		use: "import", short: "Import an image from another registry of this server",
		example: "moat acr import --name myregistry --source base.example/node:15-alpine --image node:15 [--include-referrers]",
		group:   true, required: []string{"name/-n", "source"},
		flags: func(cmd *cobra.Command) {
			registryNameFlag(cmd)
			cmd.Flags().String("source", "", "the source image: LOGINSERVER/REPO:TAG or @digest")
			listFlag(cmd, "image", "t", "target REPO:TAG (default: the source's repository and tag)")
			cmd.Flags().Bool("force", false, "overwrite existing target tags")
			cmd.Flags().Bool("include-referrers", false, "also import the referrers (signatures, SBOMs, ...) of the imported manifests (moat)")
		},
		run: func(x *exec) (any, error) {
			p, err := x.registryPath("name")
			if err != nil {
				return nil, err
			}
			mode := "NoForce"
			if f, _ := x.cmd.Flags().GetBool("force"); f {
				mode = "Force"
			}
			body := object{"source": object{"sourceImage": x.str("source")}, "mode": mode}
			if t := x.list("image"); len(t) > 0 {
				body["targetTags"] = t
			}
			if r, _ := x.cmd.Flags().GetBool("include-referrers"); r {
				body["includeReferrers"] = true
			}
			var out object
			return out, x.c.do(http.MethodPost, p+"/importImage", body, &out)
		},
	})
}
