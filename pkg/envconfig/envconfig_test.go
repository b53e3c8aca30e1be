package envconfig_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/pkg/envconfig"
)

func lookup(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestLoaderReadsAndKeepsDefaults(t *testing.T) {
	l := envconfig.Loader{Lookup: lookup(map[string]string{
		"S": " x ", "L": "a, ,b", "B": "true", "I": "42", "D": "1m", "EMPTY": "",
	})}
	s, list, b, i, d, keep := "", []string(nil), false, 0, time.Duration(0), "default"
	l.String(&s, "S")
	l.List(&list, "L")
	l.Bool(&b, "B")
	l.Int(&i, "I")
	l.Duration(&d, "D")
	l.String(&keep, "EMPTY")
	l.String(&keep, "UNSET")
	if err := l.Err(); err != nil {
		t.Fatal(err)
	}
	if s != "x" || strings.Join(list, "|") != "a|b" || !b || i != 42 || d != time.Minute || keep != "default" {
		t.Fatalf("got %q %q %v %d %v %q", s, list, b, i, d, keep)
	}
}

func TestLoaderNamesEveryBadVariable(t *testing.T) {
	l := envconfig.Loader{Lookup: lookup(map[string]string{"B": "yes please", "I": "4x", "D": "10"})}
	var b bool
	var i int
	var d time.Duration
	l.Bool(&b, "B")
	l.Int(&i, "I")
	l.Duration(&d, "D")
	err := l.Err()
	for _, name := range []string{"B=", "I=", "D="} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("error %v does not name %s", err, name)
		}
	}
}

func ExampleLoader() {
	l := envconfig.Loader{Lookup: func(string) (string, bool) { return "250ms", true }}
	poll := time.Second
	l.Duration(&poll, "HERALD_WATCH_POLL_INTERVAL")
	fmt.Println(poll, l.Err())
	// Output: 250ms <nil>
}
