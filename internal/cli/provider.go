package cli

import (
	"net/http"

	"github.com/spf13/cobra"
)

// `moat provider`: resource provider registration per subscription
// (--subscription picks it, as in az).

func newProvider() *cobra.Command {
	return parent("provider", "Manage resource provider registration",
		providerRegistration("register"), providerRegistration("unregister"), providerShow(), providerList())
}

func namespaceFlag(cmd *cobra.Command) {
	cmd.Flags().StringP("namespace", "n", "", "resource provider namespace, e.g. Microsoft.ContainerRegistry")
}

func (x *exec) providerPath() (string, error) {
	sp, err := x.c.subPath()
	if err != nil {
		return "", err
	}
	return sp + "/providers/" + seg(x.str("namespace")), nil
}

// providerRegistration is register or unregister; like az it prints nothing.
func providerRegistration(verb string) *cobra.Command {
	return leaf(spec{
		use: verb, short: capitalize(verb) + " a resource provider in the subscription",
		example:  "  moat provider " + verb + " --namespace Microsoft.ContainerRegistry [--subscription S]",
		required: []string{"namespace/-n"},
		flags: func(cmd *cobra.Command) {
			namespaceFlag(cmd)
			cmd.Flags().Bool("wait", false, "wait for the registration to finish (moat registers at once)")
		},
		run: func(x *exec) (any, error) {
			p, err := x.providerPath()
			if err != nil {
				return nil, err
			}
			return nil, x.c.do(http.MethodPost, p+"/"+verb, nil, nil)
		},
	})
}

func providerShow() *cobra.Command {
	return leaf(spec{
		use: "show", short: "Show a resource provider and its registration state",
		required: []string{"namespace/-n"},
		flags:    namespaceFlag,
		run: func(x *exec) (any, error) {
			p, err := x.providerPath()
			if err != nil {
				return nil, err
			}
			out, _, err := x.c.get(p)
			return out, err
		},
	})
}

func providerList() *cobra.Command {
	return leaf(spec{
		use: "list", short: "List resource providers and their registration state",
		run: func(x *exec) (any, error) {
			sp, err := x.c.subPath()
			if err != nil {
				return nil, err
			}
			return x.c.list(sp + "/providers")
		},
	})
}
