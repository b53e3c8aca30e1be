package filter_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/diegoholiveira/jsonlogic/v3"
)

// benchRules are matched against testdata/event.json (about 1 KiB); both match.
var benchRules = []struct{ name, rule string }{
	{"compare", `{"and":[{"===":["$eventType","usercreatedevent"]},{"in":["$data.user.country",["DE","FR","NL"]]},{">=":["$data.user.age",18]}]}`},
	{"some", `{"some":["$data.items",{"===":["$sku","ADDON-SSO"]}]}`},
}

// BenchmarkMatchCompiled is the matcher's path: the rule is compiled once, the event decoded
// once, and Match evaluates the one on the other.
func BenchmarkMatchCompiled(b *testing.B) {
	_, event := loadEvent(b)
	for _, br := range benchRules {
		b.Run(br.name, func(b *testing.B) {
			r := mustCompile(b, br.rule)
			b.ReportAllocs()
			for b.Loop() {
				if ok, err := r.Match(event); !ok || err != nil {
					b.Fatal(ok, err)
				}
			}
		})
	}
}

// BenchmarkApplyRawJSON is jsonlogic.Apply on the raw rule and event bytes, which decodes both
// on every call; compare its ns/op with BenchmarkMatchCompiled's.
func BenchmarkApplyRawJSON(b *testing.B) {
	raw, _ := loadEvent(b)
	for _, br := range benchRules {
		b.Run(br.name, func(b *testing.B) {
			rule := mustCompile(b, br.rule).JSON()
			var out bytes.Buffer
			if err := jsonlogic.Apply(bytes.NewReader(rule), bytes.NewReader(raw), &out); err != nil || out.String() != "true\n" {
				b.Fatalf("Apply = %q, %v", out.String(), err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := jsonlogic.Apply(bytes.NewReader(rule), bytes.NewReader(raw), io.Discard); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
