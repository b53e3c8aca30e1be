package heraldctl

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"strings"
	"text/tabwriter"
)

func appsCreateCmd() *command {
	var name string
	var perms repeatable
	return &command{
		name:    "apps create",
		args:    "--name NAME [--permission P]...",
		summary: "create an app (operator; admin token) and print its API key, shown once",
		help: `An app is a publisher, a subscriber or both. --permission names a permission the app holds
(repeat it for several); a subscriber needs one of a publisher's permissions to subscribe.`,
		maxArgs: 0,
		setup: func(fs *flag.FlagSet) {
			fs.StringVar(&name, "name", "", "the app's `name`")
			fs.Var(&perms, "permission", "a `permission` the app holds; repeat for several")
		},
		run: func(ctx context.Context, c *cli, _ []string) error {
			if name == "" {
				return usagef("--name is required")
			}
			if err := c.needToken(); err != nil {
				return err
			}
			body := map[string]any{"name": name, "permissions": []string(perms)}
			if perms == nil {
				body["permissions"] = []string{}
			}
			data, err := c.call(ctx, http.MethodPost, "/v1/apps", body)
			if err != nil {
				return err
			}
			fmt.Fprintln(c.stderr, "The API key is shown only this once: store it now (Herald keeps only its hash).")
			if c.output == "json" {
				return c.printJSON(data)
			}
			var r struct {
				ID     string `json:"id"`
				APIKey string `json:"apiKey"`
			}
			if err := decode(data, &r); err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "Created app %q.\n  id:      %s\n  apiKey:  %s\n", name, r.ID, r.APIKey)
			return nil
		},
	}
}

func appsListCmd() *command {
	return &command{
		name:    "apps list",
		args:    "",
		summary: "list every app (operator; admin token)",
		maxArgs: 0,
		run: func(ctx context.Context, c *cli, _ []string) error {
			if err := c.needToken(); err != nil {
				return err
			}
			items, _, err := c.listAll(ctx, "/v1/apps", "apps", nil, 0)
			if err != nil {
				return err
			}
			if c.output == "json" {
				return c.printJSON(listJSON("apps", items, false))
			}
			apps, err := decodeItems[app](items)
			if err != nil {
				return err
			}
			if len(apps) == 0 {
				fmt.Fprintln(c.stdout, "No apps yet. Create one with: heraldctl apps create --name NAME")
				return nil
			}
			tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tPERMISSIONS\tCREATED")
			for _, a := range apps {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", a.ID, a.Name, listText(a.Permissions), stamp(a.CreateTime))
			}
			return tw.Flush()
		},
	}
}

// appsGrantCmd is "apps grant" (grant) or "apps revoke".
func appsGrantCmd(grant bool) *command {
	verb, key, summary := "grant", "grant", "give an app permissions (operator; admin token)"
	if !grant {
		verb, key, summary = "revoke", "revoke", "take permissions from an app (operator; admin token)"
	}
	return &command{
		name:    "apps " + verb,
		args:    "APP_ID PERMISSION...",
		summary: summary,
		help:    "Each argument is one permission (quote permissions that contain spaces: \"get user details\").",
		minArgs: 2,
		maxArgs: -1,
		run: func(ctx context.Context, c *cli, args []string) error {
			if err := c.needToken(); err != nil {
				return err
			}
			data, err := c.call(ctx, http.MethodPatch, "/v1/apps/"+pathEscape(args[0]), map[string]any{key: args[1:]})
			if err != nil {
				return err
			}
			if c.output == "json" {
				return c.printJSON(data)
			}
			var a app
			if err := decode(data, &a); err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "App %s (%s) now holds: %s\n", a.ID, a.Name, listText(a.Permissions))
			return nil
		},
	}
}

// listText shows a list of names, "-" for none.
func listText(l []string) string {
	if len(l) == 0 {
		return "-"
	}
	return strings.Join(l, ", ")
}

func appsRotateKeyCmd() *command {
	return &command{
		name:    "apps rotate-key",
		args:    "APP_ID",
		summary: "issue a new API key for an app (operator; admin token): the old key stops working at once",
		minArgs: 1, maxArgs: 1,
		run: func(ctx context.Context, c *cli, args []string) error {
			if err := c.needToken(); err != nil {
				return err
			}
			data, err := c.call(ctx, http.MethodPost, "/v1/apps/"+pathEscape(args[0])+":rotateKey", nil)
			if err != nil {
				return err
			}
			fmt.Fprintln(c.stderr, "The new API key is shown only this once; the old one no longer works.")
			if c.output == "json" {
				return c.printJSON(data)
			}
			var r struct {
				ID     string `json:"id"`
				APIKey string `json:"apiKey"`
			}
			if err := decode(data, &r); err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "New key for app %s.\n  apiKey:  %s\n", r.ID, r.APIKey)
			return nil
		},
	}
}

func appsDeleteCmd() *command {
	return &command{
		name:    "apps delete",
		args:    "APP_ID",
		summary: "delete an app with its key, app config, subscriptions and the subscriptions to it (operator; admin token); refused while it has registered events",
		minArgs: 1, maxArgs: 1,
		run: func(ctx context.Context, c *cli, args []string) error {
			if err := c.needToken(); err != nil {
				return err
			}
			data, err := c.call(ctx, http.MethodDelete, "/v1/apps/"+pathEscape(args[0]), nil)
			if err != nil {
				return err
			}
			if c.output == "json" {
				return c.printJSON(data)
			}
			var r struct {
				AppID                string `json:"appId"`
				DeletedSubscriptions int    `json:"deletedSubscriptions"`
			}
			if err := decode(data, &r); err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "Deleted app %s and %d subscriptions.\n", r.AppID, r.DeletedSubscriptions)
			return nil
		},
	}
}
