package testenv

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
)

// Call makes a JSON call to Herald's API at base and returns the status and the decoded body
// (`{"data": …}` or `{"error": …}`). body is marshalled unless it is nil; json.RawMessage
// goes as it is.
func Call(t testing.TB, base, method, path, key string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		buf, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

// API makes a call that must succeed (a 2xx) and returns its `data` object.
func API(t testing.TB, base, method, path, key string, body any) map[string]any {
	t.Helper()
	code, out := Call(t, base, method, path, key, body)
	if code >= 300 {
		t.Fatalf("%s %s = %d %v", method, path, code, out)
	}
	d, _ := out["data"].(map[string]any)
	return d
}
