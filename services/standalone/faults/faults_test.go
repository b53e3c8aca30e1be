//go:build faults

package faults

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhq/herald/pkg/secretbox"
	"github.com/heraldhq/herald/pkg/testenv"
	"github.com/heraldhq/herald/pkg/topics"
	"github.com/heraldhq/herald/services/dispatcher"
	"github.com/segmentio/kafka-go"
)

const adminToken = "faults-admin-token-0123456789"

var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

// binaries builds the three services once per test binary.
func binaries(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "herald-faults-bin-")
		if binErr != nil {
			return
		}
		root, err := filepath.Abs("../../..")
		if err != nil {
			binErr = err
			return
		}
		for _, svc := range []string{"registry", "matcher", "dispatcher"} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(binDir, svc), "./services/"+svc+"/cmd/"+svc)
			cmd.Dir = root
			if out, err := cmd.CombinedOutput(); err != nil {
				binErr = fmt.Errorf("building %s: %v\n%s", svc, err, out)
				return
			}
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binDir
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// proc is one service process that can be killed and started again with the same settings.
type proc struct {
	t    *testing.T
	name string
	bin  string
	env  []string
	log  *os.File
	cmd  *exec.Cmd
	done chan struct{}
}

func (p *proc) start() {
	p.t.Helper()
	p.cmd = exec.Command(p.bin)
	p.cmd.Env = append(os.Environ(), p.env...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(p.cmd, p.done)
}

// kill sends SIGKILL: no shutdown, no final commit.
func (p *proc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		p.kill()
	}
}

// cluster is Herald as three processes on one database and one topic prefix.
type cluster struct {
	t                     *testing.T
	prefix                string
	brokers               []string
	base                  string
	registry, matcher     *proc
	dispatcher            *proc
	pubID, pubKey, subKey string
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	bin := binaries(t)
	c := &cluster{t: t, prefix: testenv.UniqueName("f") + ".", brokers: testenv.KafkaBrokers(t)}
	mongo := testenv.MongoURI(t)
	logDir := t.TempDir()
	httpAddr, grpcAddr := freeAddr(t), freeAddr(t)
	key := secretbox.NewKey()
	common := []string{"HERALD_ADMIN_TOKEN=" + adminToken, "HERALD_TOPIC_PREFIX=" + c.prefix, "HERALD_KAFKA_SESSION_TIMEOUT=3s"}
	mk := func(name string, env ...string) *proc {
		f, err := os.Create(filepath.Join(logDir, name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		p := &proc{t: t, name: name, bin: filepath.Join(bin, name), env: append(append([]string{}, common...), env...), log: f}
		t.Cleanup(func() {
			p.stop()
			f.Close()
			if t.Failed() {
				b, _ := os.ReadFile(f.Name())
				t.Logf("--- %s log (last 3000 bytes) ---\n%s", name, tail(b, 3000))
			}
		})
		return p
	}
	c.registry = mk("registry", "HERALD_HTTP_ADDR="+httpAddr, "HERALD_GRPC_ADDR="+grpcAddr, "HERALD_MONGODB_URI="+mongo,
		"HERALD_MONGODB_DATABASE="+testenv.UniqueName("faults_"), "HERALD_MONGODB_MAX_POOL_SIZE=1", "HERALD_SECRET_KEY="+key,
		"HERALD_WATCH_POLL_INTERVAL=50ms", "HERALD_ALLOW_LOOPBACK=true", "HERALD_KAFKA_BROKERS="+strings.Join(c.brokers, ","))
	c.matcher = mk("matcher", "HERALD_HTTP_ADDR="+freeAddr(t), "HERALD_GRPC_ADDR="+freeAddr(t), "HERALD_MAX_EVENT_BYTES=262144", "HERALD_KAFKA_BROKERS="+strings.Join(c.brokers, ","), "HERALD_REGISTRY_ADDR="+grpcAddr)
	c.dispatcher = mk("dispatcher", "HERALD_HTTP_ADDR="+freeAddr(t), "HERALD_GRPC_ADDR="+freeAddr(t), "HERALD_KAFKA_BROKERS="+strings.Join(c.brokers, ","),
		"HERALD_REGISTRY_ADDR="+grpcAddr, "HERALD_SECRET_KEY="+key, "HERALD_ALLOW_LOOPBACK=true", "HERALD_DELIVERY_TIMEOUT=2s")
	c.base = "http://" + httpAddr
	c.createTopics()
	c.registry.start()
	testenv.Eventually(t, 30*time.Second, "the registry answers", func() bool {
		res, err := http.Get(c.base + "/readyz")
		if err == nil {
			res.Body.Close()
		}
		return err == nil && res.StatusCode == 200
	})
	pub := c.api("POST", "/v1/apps", adminToken, map[string]any{"name": "pub", "permissions": []string{"p"}})
	sub := c.api("POST", "/v1/apps", adminToken, map[string]any{"name": "sub", "permissions": []string{"p"}})
	c.pubID, c.pubKey, c.subKey = pub["id"].(string), pub["apiKey"].(string), sub["apiKey"].(string)
	c.api("POST", "/v1/appconfig", c.pubKey, map[string]any{"permissions": []string{"p"}})
	c.api("POST", "/v1/topics/entity/events", c.pubKey, map[string]any{"getApiPath": "/things/{id}",
		"events": []any{map[string]any{"name": "thing", "eventType": "thingChanged"}}})
	return c
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

func (c *cluster) createTopics() {
	c.t.Helper()
	names := topics.Names{Prefix: c.prefix}
	cfg := dispatcher.DefaultConfig()
	cfg.TopicPrefix = c.prefix
	all := append(append(names.InputTopics(), names.Topic(topics.Invalid), names.Topic(topics.Replays), names.Topic(topics.Payloads)), dispatcher.Topics(cfg)...)
	testenv.CreateTopics(c.t, c.brokers, 6, all...)
}

func (c *cluster) api(method, path, key string, body any) map[string]any {
	c.t.Helper()
	return testenv.API(c.t, c.base, method, path, key, body)
}

func (c *cluster) subscribe(url string, opts map[string]any) string {
	return c.api("POST", "/v1/subscriptions", c.subKey, map[string]any{"appId": c.pubID, "topic": "entity", "events": []string{"thing"}, "url": url, "options": opts})["id"].(string)
}

// writer produces to the logical input topic, retrying while a fresh topic settles.
func (c *cluster) produce(msgs ...kafka.Message) {
	c.t.Helper()
	testenv.Produce(c.t, c.brokers, c.prefix+"entity", msgs...)
}

// counter is a loopback receiver counting deliveries by webhook-id.
type counter struct {
	*httptest.Server
	mu     sync.Mutex
	ids    map[string]int
	answer func(r *http.Request) int
}

func newCounter(t *testing.T, answer func(r *http.Request) int) *counter {
	c := &counter{ids: map[string]int{}, answer: answer}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.Method != http.MethodPost { // endpoint verification (HEAD/GET) when subscribing
			return
		}
		code := 200
		if c.answer != nil {
			code = c.answer(r)
		}
		if code < 300 {
			c.mu.Lock()
			c.ids[r.Header.Get("webhook-id")]++
			c.mu.Unlock()
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(c.Close)
	return c
}

// unique and total count distinct delivery ids and all successful requests.
func (c *counter) counts() (unique, total int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.ids {
		unique++
		total += n
	}
	return
}

func events(from, n int, good bool) []kafka.Message {
	out := make([]kafka.Message, n)
	for i := range out {
		if good {
			out[i] = kafka.Message{Value: []byte(fmt.Sprintf(`{"eventType":"thingChanged","id":"t%d"}`, from+i))}
		} else {
			out[i] = kafka.Message{Value: []byte(malformed[(from+i)%len(malformed)])}
		}
	}
	return out
}

var malformed = []string{
	`not json`, `[1,2,3]`, `"a string"`, `{"id":"no event type"}`, `{"eventType":42}`, `{"eventType":"thingChanged",`,
	strings.Repeat(`{"a":`, 11000) + `1` + strings.Repeat(`}`, 11000),
	`{"eventType":"thingChanged","pad":"` + strings.Repeat("x", 1100<<10/2) + `"}`,
}

// TestSIGKILLLosesNothing kills the dispatcher, then the matcher, at random moments of a
// 10,000-event run and restarts them: every delivery arrives, duplicates carry the same id.
func TestSIGKILLLosesNothing(t *testing.T) {
	c := newCluster(t)
	rc := newCounter(t, nil)
	c.subscribe(rc.URL, nil)
	c.matcher.start()
	c.dispatcher.start()
	const total = 10000
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		for i := 0; i < total; i += 250 {
			c.produce(events(i, 250, true)...)
			time.Sleep(50 * time.Millisecond)
		}
	}()
	time.Sleep(time.Duration(500+rand.IntN(1500)) * time.Millisecond)
	c.dispatcher.kill()
	time.Sleep(300 * time.Millisecond)
	c.dispatcher.start()
	time.Sleep(time.Duration(500+rand.IntN(1500)) * time.Millisecond)
	c.matcher.kill()
	time.Sleep(300 * time.Millisecond)
	c.matcher.start()
	<-produced
	testenv.Eventually(t, 3*time.Minute, fmt.Sprintf("all %d deliveries arrive", total), func() bool { u, _ := rc.counts(); return u >= total })
	u, n := rc.counts()
	if u != total {
		t.Fatalf("%d distinct deliveries, want %d", u, total)
	}
	t.Logf("%d deliveries arrived as %d requests: %d duplicates, each with its delivery's webhook-id", u, n, n-u)
}

// TestRegistryStoppedMidRun stops the registry: matching and delivery go on with the cached
// configuration.
func TestRegistryStoppedMidRun(t *testing.T) {
	c := newCluster(t)
	rc := newCounter(t, nil)
	c.subscribe(rc.URL, nil)
	c.matcher.start()
	c.dispatcher.start()
	c.produce(events(0, 500, true)...)
	testenv.Eventually(t, time.Minute, "the first 500 arrive", func() bool { u, _ := rc.counts(); return u >= 500 })
	c.registry.kill()
	c.produce(events(500, 500, true)...)
	testenv.Eventually(t, time.Minute, "500 more arrive with the registry down", func() bool { u, _ := rc.counts(); return u >= 1000 })
}

// TestMalformedInputNeverStallsAPartition interleaves 1,000 malformed messages with 1,000 good
// ones: all good ones are delivered and all bad ones are in herald.invalid.
func TestMalformedInputNeverStallsAPartition(t *testing.T) {
	c := newCluster(t)
	rc := newCounter(t, nil)
	c.subscribe(rc.URL, nil)
	c.matcher.start()
	c.dispatcher.start()
	for i := 0; i < 1000; i += 100 {
		var batch []kafka.Message
		for j := range 100 {
			batch = append(batch, events(i+j, 1, true)[0], events(i+j, 1, false)[0])
		}
		c.produce(batch...)
	}
	testenv.Eventually(t, 2*time.Minute, "all 1,000 good events are delivered", func() bool { u, _ := rc.counts(); return u >= 1000 })
	testenv.Eventually(t, time.Minute, "all 1,000 bad ones are quarantined", func() bool { return testenv.Count(t, c.brokers, c.prefix+topics.Invalid) == 1000 })
}

// TestReceiverFailuresAreRetriedAndLogged runs five receivers that misbehave in the ways
// endpoints do and checks each outcome in the registry's attempt log.
func TestReceiverFailuresAreRetriedAndLogged(t *testing.T) {
	c := newCluster(t)
	var mu sync.Mutex
	tries := map[string]int{} // per receiver and webhook-id
	nth := func(name string, r *http.Request) int {
		mu.Lock()
		defer mu.Unlock()
		k := name + "/" + r.Header.Get("webhook-id")
		tries[k]++
		return tries[k]
	}
	flaky := newCounter(t, func(r *http.Request) int { // 500 three times, then 200
		if nth("flaky", r) <= 3 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	slow := newCounter(t, func(r *http.Request) int { // hangs past the 2s timeout once
		if nth("slow", r) == 1 {
			time.Sleep(3 * time.Second)
		}
		return http.StatusOK
	})
	gone := newCounter(t, func(*http.Request) int { return http.StatusGone })
	limited := newCounter(t, nil)
	limited.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.Method == http.MethodPost && nth("limited", r) == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		if r.Method == http.MethodPost {
			limited.mu.Lock()
			limited.ids[r.Header.Get("webhook-id")]++
			limited.mu.Unlock()
		}
	})
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := "http://" + l.Addr().String() + "/hook"
	l.Close()

	quick := map[string]any{"retrySchedule": []string{"100ms", "100ms", "100ms", "100ms"}}
	subs := map[string]string{
		"flaky":   c.subscribe(flaky.URL, quick),
		"slow":    c.subscribe(slow.URL, quick),
		"gone":    c.subscribe(gone.URL, quick),
		"limited": c.subscribe(limited.URL, map[string]any{"retrySchedule": []string{"10ms"}}),
		"closed":  c.subscribe(closed, map[string]any{"retrySchedule": []string{"100ms"}, "skipVerification": true}),
	}
	c.matcher.start()
	c.dispatcher.start()
	c.produce(events(0, 5, true)...)

	testenv.Eventually(t, time.Minute, "the flaky, slow and rate-limited receivers get all 5", func() bool {
		a, _ := flaky.counts()
		b, _ := slow.counts()
		d, _ := limited.counts()
		return a == 5 && b == 5 && d == 5
	})
	// The attempt log, as the registry recorded it from herald.attempts.
	deliveryOf := func(name, status string, attempts int) map[string]any {
		var d map[string]any
		testenv.Eventually(t, time.Minute, fmt.Sprintf("%s's first delivery is %s after %d attempts", name, status, attempts), func() bool {
			list := c.api("GET", "/v1/subscriptions/"+subs[name]+"/deliveries?limit=1", c.subKey, nil)["deliveries"].([]any)
			if len(list) == 0 {
				return false
			}
			id := list[0].(map[string]any)["id"].(string)
			d = c.api("GET", "/v1/deliveries/"+id, c.subKey, nil)
			return d["status"] == status && len(d["attempts"].([]any)) == attempts
		})
		return d
	}
	codes := func(d map[string]any) string {
		var out []string
		for _, a := range d["attempts"].([]any) {
			m := a.(map[string]any)
			out = append(out, fmt.Sprintf("%v/%v", m["statusCode"], m["errorType"]))
		}
		return strings.Join(out, " ")
	}
	if got := codes(deliveryOf("flaky", "delivered", 4)); got != "500/http_status 500/http_status 500/http_status 200/" {
		t.Errorf("flaky attempts: %s", got)
	}
	if got := codes(deliveryOf("slow", "delivered", 2)); got != "0/timeout 200/" {
		t.Errorf("slow attempts: %s", got)
	}
	if got := codes(deliveryOf("limited", "delivered", 2)); !strings.HasPrefix(got, "429/http_status") {
		t.Errorf("rate-limited attempts: %s", got)
	}
	if got := codes(deliveryOf("closed", "failed", 2)); got != "0/connection_refused 0/connection_refused" {
		t.Errorf("closed-port attempts: %s", got)
	}
	if got := codes(deliveryOf("gone", "gone", 1)); got != "410/http_status" {
		t.Errorf("410 attempts: %s", got)
	}
	testenv.Eventually(t, time.Minute, "the 410 disables the subscription", func() bool {
		return c.api("GET", "/v1/subscriptions/"+subs["gone"], c.subKey, nil)["status"] == "disabled"
	})
	mu.Lock()
	defer mu.Unlock()
	for k, n := range tries {
		if strings.HasPrefix(k, "limited/") && n != 2 {
			t.Errorf("%s was tried %d times, want 2", k, n)
		}
	}
}
