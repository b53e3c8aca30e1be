package registry

import (
	"strings"
	"testing"
	"time"

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

func TestLoadReadsTheDeliveryLogSettings(t *testing.T) {
	env := map[string]string{
		"HERALD_ADMIN_TOKEN": strings.Repeat("t", 16), "HERALD_SECRET_KEY": secretbox.NewKey(),
		"HERALD_KAFKA_BROKERS": "k1:9092, k2:9092", "HERALD_TOPIC_PREFIX": "dev.",
		"HERALD_REGISTRY_ATTEMPTS_GROUP": "reg", "HERALD_DELIVERY_RETENTION": "48h",
	}
	c, err := Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil || len(c.KafkaBrokers) != 2 || c.KafkaBrokers[1] != "k2:9092" || c.TopicPrefix != "dev." ||
		c.AttemptsGroup != "reg" || c.Retention != 48*time.Hour {
		t.Fatalf("Load = %+v, %v", c, err)
	}
	d := DefaultConfig()
	if d.KafkaBrokers != nil || d.AttemptsGroup != "herald-registry" || d.Retention != 720*time.Hour || d.TopicPrefix != "" {
		t.Fatalf("defaults = %+v", d)
	}
	for _, bad := range []string{"soon", "10m"} {
		env["HERALD_DELIVERY_RETENTION"] = bad
		if _, err := Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err == nil || !strings.Contains(err.Error(), "HERALD_DELIVERY_RETENTION") {
			t.Errorf("retention %q: err = %v", bad, err)
		}
	}
}
