package cli

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
)

// `moat acr login` does what `az acr login` does: it exchanges the session's
// identity token at the registry's /oauth2/exchange for a registry refresh
// token, and writes it to the Docker credential config as the cloud CLI
// does: auths[<login server host>] = {"auth": base64("<zero user>:"),
// "identitytoken": <refresh token>}. docker, podman, skopeo, crane, oras,
// regctl and helm then present the refresh token (as the password of the
// all-zero user, or with grant_type=refresh_token) to /oauth2/token.

// zeroUser is the user name that says "the password is a refresh token".
const zeroUser = "00000000-0000-0000-0000-000000000000"

func acrLogin() *cobra.Command {
	return leaf(spec{
		use: "login", short: "Log in to a container registry: write its credential to the Docker config",
		example: "  moat acr login --name myregistry\n" +
			"  TOKEN=$(moat acr login --name myregistry --expose-token --output tsv --query accessToken)",
		group: true, required: []string{"name/-n"},
		flags: func(cmd *cobra.Command) {
			registryNameFlag(cmd)
			cmd.Flags().Bool("expose-token", false, "print the registry token instead of writing the Docker config")
			cmd.Flags().StringP("username", "u", "", "log in with a user name and password instead (e.g. the admin user)")
			cmd.Flags().StringP("password", "p", "", `the password of --username; "-" reads it from standard input`)
		},
		run: runACRLogin,
	})
}

func runACRLogin(x *exec) (any, error) {
	base, err := url.Parse(x.c.base)
	if err != nil {
		return nil, err
	}
	loginServer, err := x.loginServer(base)
	if err != nil {
		return nil, err
	}
	host, _, _ := strings.Cut(loginServer, "/")
	registryURL := base.Scheme + "://" + host
	expose, _ := x.cmd.Flags().GetBool("expose-token")
	if user := x.str("username"); user != "" {
		if expose {
			return nil, fmt.Errorf("usage error: --expose-token | --username --password")
		}
		pw, err := x.password()
		if err != nil {
			return nil, err
		}
		if err := x.c.checkBasic(registryURL, loginServer, user, pw); err != nil {
			return nil, err
		}
		if err := writeDockerCredential(host, object{"auth": basicAuth(user, pw)}, user, pw); err != nil {
			return nil, err
		}
		fmt.Fprintln(x.cmd.OutOrStdout(), "Login Succeeded")
		return nil, nil
	}
	refresh, err := x.c.registryRefreshToken(registryURL, loginServer)
	if err != nil {
		return nil, err
	}
	if expose {
		x.warn("You can perform manual login using the provided access token below, for example: 'docker login %s --username %s --password <accessToken>'", host, zeroUser)
		return object{"accessToken": refresh, "loginServer": loginServer, "username": zeroUser}, nil
	}
	entry := object{"auth": basicAuth(zeroUser, ""), "identitytoken": refresh}
	if err := writeDockerCredential(host, entry, "<token>", refresh); err != nil {
		return nil, err
	}
	fmt.Fprintln(x.cmd.OutOrStdout(), "Login Succeeded")
	return nil, nil
}

// registryRefreshToken exchanges the session's identity token for a
// refresh token of the registry at loginServer (reached at registryURL): the
// session's management token, on whatever host the login server is (the
// server accepts its configured audiences, not the Host's).
func (c *client) registryRefreshToken(registryURL, loginServer string) (string, error) {
	tok, err := c.managementToken()
	if err != nil {
		return "", err
	}
	return c.exchange(registryURL, loginServer, tok)
}

// managementToken is the session's identity token for the server's
// management API.
func (c *client) managementToken() (string, error) {
	tok, err := accessToken(c)
	if err == nil && tok == "" {
		err = c.signInError("")
	}
	return tok, err
}

// loginServer returns the login server of the registry --name: from the
// registry resource, or, when the caller may not read it (an AcrPull or
// AcrPush user has data-plane roles only), built from the name as az does:
// <name>.<suffix> when the server has a login-server suffix, else path style
// <server host>/<name>.
func (x *exec) loginServer(base *url.URL) (string, error) { return x.loginServerOf(base, "name") }

// loginServerOf is loginServer for the registry named by flag.
func (x *exec) loginServerOf(base *url.URL, flag string) (string, error) {
	name := x.str(flag)
	p, err := x.registryPath(flag)
	if err == nil {
		var reg object
		if reg, _, err = x.c.get(p); err == nil {
			if ls := str(reg, "properties", "loginServer"); ls != "" {
				return ls, nil
			}
			return "", fmt.Errorf("registry %s has no loginServer", name)
		}
	}
	if !isStatus(err, http.StatusNotFound) && !isStatus(err, http.StatusForbidden) {
		return "", err
	}
	md, mdErr := x.c.metadata()
	if mdErr != nil {
		return "", err
	}
	if md.Suffixes.ACRLoginServer != "" {
		return strings.ToLower(name) + "." + strings.TrimPrefix(md.Suffixes.ACRLoginServer, "."), nil
	}
	return base.Host + "/" + strings.ToLower(name), nil
}

func basicAuth(user, pw string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + pw))
}

// registryError reads the message of a data-plane error answer
// ({"errors":[{"code","message"}]}).
func registryError(raw []byte, status string) string {
	var e struct {
		Errors []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	if json.Unmarshal(raw, &e) == nil && len(e.Errors) > 0 {
		return e.Errors[0].Code + ": " + e.Errors[0].Message
	}
	return "the registry answered " + status
}

// exchange trades an identity token for a registry refresh token at
// <registryURL>/oauth2/exchange.
func (c *client) exchange(registryURL, service, identityToken string) (string, error) {
	form := url.Values{"grant_type": {"access_token"}, "service": {service}, "access_token": {identityToken}}
	req, err := http.NewRequest(http.MethodPost, registryURL+"/oauth2/exchange", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, raw, err := c.roundTrip(req)
	if err != nil {
		return "", err
	}
	if resp.StatusCode == http.StatusUnauthorized {
		return "", c.signInError(registryError(raw, resp.Status))
	}
	var out struct {
		RefreshToken string `json:"refresh_token"`
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("the registry refused the token exchange at %s/oauth2/exchange: %s", registryURL, registryError(raw, resp.Status))
	}
	if json.Unmarshal(raw, &out) != nil || out.RefreshToken == "" {
		return "", fmt.Errorf("%s/oauth2/exchange answered without a refresh_token", registryURL)
	}
	return out.RefreshToken, nil
}

// checkBasic checks a user name and password at the registry's token endpoint.
func (c *client) checkBasic(registryURL, service, user, pw string) error {
	req, err := http.NewRequest(http.MethodGet, registryURL+"/oauth2/token?"+url.Values{"service": {service}}.Encode(), nil)
	if err != nil {
		return err
	}
	req.SetBasicAuth(user, pw)
	resp, raw, err := c.roundTrip(req)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the registry refused the credentials of %s: %s", user, registryError(raw, resp.Status))
	}
	return nil
}

// dockerConfigPath is $DOCKER_CONFIG/config.json, default ~/.docker/config.json.
func dockerConfigPath() (string, error) {
	dir := os.Getenv("DOCKER_CONFIG")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("no home directory for the Docker config; set DOCKER_CONFIG: %v", err)
		}
		dir = filepath.Join(home, ".docker")
	}
	return filepath.Join(dir, "config.json"), nil
}

// writeDockerCredential stores the credential of host in the Docker config:
// through the credential helper the config names for it (credHelpers, or
// credsStore), as docker login does, else as auths[host] = entry in the file.
// Everything else in the file is kept.
func writeDockerCredential(host string, entry object, helperUser, helperSecret string) error {
	p, err := dockerConfigPath()
	if err != nil {
		return err
	}
	if real, err := filepath.EvalSymlinks(p); err == nil {
		p = real
	}
	cfg := map[string]json.RawMessage{}
	raw, err := os.ReadFile(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return err
	case len(bytes.TrimSpace(raw)) > 0:
		if err := json.Unmarshal(raw, &cfg); err != nil {
			return fmt.Errorf("the Docker config %s is not valid JSON: %v", p, err)
		}
	}
	var helpers map[string]string
	var store string
	_ = json.Unmarshal(cfg["credHelpers"], &helpers)
	_ = json.Unmarshal(cfg["credsStore"], &store)
	if h := helpers[host]; h != "" {
		store = h
	}
	if store != "" {
		if err := helperStore(store, host, helperUser, helperSecret); err != nil {
			return fmt.Errorf("the Docker config %s keeps credentials in docker-credential-%s, which failed: %v (remove \"credsStore\" from it to keep them in the file)", p, store, err)
		}
		return nil
	}
	auths := map[string]json.RawMessage{}
	if a, ok := cfg["auths"]; ok && len(a) > 0 && string(a) != "null" {
		if err := json.Unmarshal(a, &auths); err != nil {
			return fmt.Errorf("the Docker config %s has an invalid \"auths\": %v", p, err)
		}
	}
	if auths[host], err = json.Marshal(entry); err != nil {
		return err
	}
	if cfg["auths"], err = json.Marshal(auths); err != nil {
		return err
	}
	out, err := json.MarshalIndent(cfg, "", "\t")
	if err != nil {
		return err
	}
	return writePrivateFile(p, out)
}

// helperStore runs docker-credential-<name> store, the credential helper protocol.
func helperStore(name, host, user, secret string) error {
	in, err := json.Marshal(map[string]string{"ServerURL": host, "Username": user, "Secret": secret})
	if err != nil {
		return err
	}
	cmd := osexec.Command("docker-credential-"+name, "store")
	cmd.Stdin = bytes.NewReader(in)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		if msg := strings.TrimSpace(out.String()); msg != "" {
			return fmt.Errorf("%v: %s", err, msg)
		}
		return err
	}
	return nil
}
