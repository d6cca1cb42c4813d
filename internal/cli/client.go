package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

const apiVersion = "2025-11-01"

// client calls the management API of one server.
type client struct {
	base string
	http *http.Client
	sub  string
}

func newClient(cmd *cobra.Command) *client {
	return &client{base: strings.TrimRight(serverURL(cmd), "/"), http: &http.Client{Timeout: 2 * time.Minute}}
}

// apiError is the ARM error body.
type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// do sends a request and decodes a JSON answer into out (if not nil).
func (c *client) do(method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(raw)
	}
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	req, err := http.NewRequest(method, c.base+path+sep+"api-version="+apiVersion, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the moat server at %s (set --server or MOAT_SERVER): %w", c.base, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 400 {
		var e apiError
		if json.Unmarshal(raw, &e) == nil && e.Error.Code != "" {
			return fmt.Errorf("(%s) %s", e.Error.Code, e.Error.Message)
		}
		return fmt.Errorf("server answered %s", resp.Status)
	}
	if out != nil && len(raw) > 0 {
		return json.Unmarshal(raw, out)
	}
	return nil
}

// subscription returns the server's subscription ID.
func (c *client) subscription() (string, error) {
	if c.sub != "" {
		return c.sub, nil
	}
	var list struct {
		Value []struct {
			SubscriptionID string `json:"subscriptionId"`
		} `json:"value"`
	}
	if err := c.do(http.MethodGet, "/subscriptions", nil, &list); err != nil {
		return "", err
	}
	if len(list.Value) == 0 {
		return "", fmt.Errorf("the server has no subscription")
	}
	c.sub = list.Value[0].SubscriptionID
	return c.sub, nil
}

// groupPath returns /subscriptions/{sub}/resourceGroups/{rg}.
func (c *client) groupPath(rg string) (string, error) {
	sub, err := c.subscription()
	if err != nil {
		return "", err
	}
	return "/subscriptions/" + sub + "/resourceGroups/" + rg, nil
}
