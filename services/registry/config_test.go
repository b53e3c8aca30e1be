package registry

import (
	"strings"
	"testing"

	"github.com/heraldhq/herald/pkg/secretbox"
)

func TestLoadNamesEveryBadVariable(t *testing.T) {
	env := map[string]string{"HERALD_ADMIN_TOKEN": "short", "HERALD_SECRET_KEY": "nope", "HERALD_MONGODB_MAX_POOL_SIZE": "0"}
	_, err := Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	for _, name := range []string{"HERALD_ADMIN_TOKEN", "HERALD_SECRET_KEY", "HERALD_MONGODB_MAX_POOL_SIZE"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("error %v does not name %s", err, name)
		}
	}
}

func TestLoadAcceptsAGoodConfig(t *testing.T) {
	env := map[string]string{"HERALD_ADMIN_TOKEN": strings.Repeat("t", 16), "HERALD_SECRET_KEY": secretbox.NewKey(), "HERALD_HTTP_ADDR": "127.0.0.1:0"}
	c, err := Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil || c.HTTPAddr != "127.0.0.1:0" || c.GRPCAddr != ":9090" {
		t.Fatalf("Load = %+v, %v", c, err)
	}
}
