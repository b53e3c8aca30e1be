package bench

import (
	"bytes"
	"cmp"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/heraldhq/herald/pkg/secretbox"
	"github.com/heraldhq/herald/pkg/topics"
	"github.com/heraldhq/herald/services/dispatcher"
	"github.com/heraldhq/herald/services/matcher"
	"github.com/heraldhq/herald/services/registry"
	"github.com/segmentio/kafka-go"
)

// Options size the run; the zero value means the defaults in brackets.
type Options struct {
	Subscriptions int     // subscriptions to the benchmark event [100]
	Events        int     // input events in the saturated run; half pass the filter [2000 → 100k deliveries]
	Receivers     int     // loopback receiver servers, subscriptions spread over them [10]
	BodyBytes     int     // size of an input event [1024]
	Concurrency   int     // baseline POST loop goroutines [128]
	PacedFraction float64 // paced run's rate as a fraction of the saturated throughput [0.5]
	PacedSeconds  float64 // length of the paced run [5]
	Only          string  // run the baseline and this phase alone: e2e, matcher or dispatcher [all]
	Rounds        int     // saturated end-to-end rounds, each after its own baseline [5]
	InProcess     bool    // run the broker and the store in this process, not a child process [false]
	Log           *slog.Logger
	Progress      io.Writer `json:"-"` // round-by-round figures [discarded]
}

func (o *Options) defaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.Subscriptions, 100)
	def(&o.Events, 2000)
	def(&o.Receivers, 10)
	def(&o.BodyBytes, 1024)
	def(&o.Concurrency, 128)
	def(&o.Rounds, 5)
	if o.PacedFraction <= 0 {
		o.PacedFraction = 0.5
	}
	if o.PacedSeconds <= 0 {
		o.PacedSeconds = 5
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
}

// Phase is one measured phase.
type Phase struct {
	Name      string  `json:"name"`
	Count     int64   `json:"count"` // deliveries (or events for the matcher)
	Seconds   float64 `json:"seconds"`
	PerSecond float64 `json:"per_second"`
	Ratio     float64 `json:"ratio_to_baseline"`
	P50ms     float64 `json:"p50_ms,omitempty"`
	P99ms     float64 `json:"p99_ms,omitempty"`
	MaxMs     float64 `json:"max_ms,omitempty"`
	CPUus     float64 `json:"cpu_us_per_item"`
	// StandinCPUus is the part of CPUus the broker and the store used (their child process).
	StandinCPUus float64 `json:"standin_cpu_us_per_item,omitempty"`
	// AllocKiB is what this process allocated per item (its services, receivers and baseline
	// loop; not the stand-ins): the collector's work grows with it.
	AllocKiB float64 `json:"alloc_kib_per_item"`
	// GCus is this process's garbage collector's CPU per item: runtime/metrics'
	// /cpu/classes/gc/total, an estimate that counts pauses as every P's time and moves only at
	// the end of a cycle (so a cycle spanning two phases lands in the later one). Compare it
	// between runs of a phase, not with CPUus.
	GCus       float64 `json:"gc_cpu_us_per_item"`
	Duplicates int64   `json:"duplicates,omitempty"`
	// Connections is how many TCP connections the receivers accepted during the phase: a
	// sender that keeps its connections alive opens none once warm. (Herald's opened ~2,000
	// per 100,000 deliveries, each a handshake, until its idle pool was sized past its
	// in-flight bound.)
	Connections int64 `json:"connections_opened"`
	// RoundRatios are the ratios of every saturated round, each to its own baseline; the phase
	// reports the median round.
	RoundRatios []float64 `json:"round_ratios,omitempty"`
}

// Report is a whole run.
type Report struct {
	Time        time.Time `json:"time"`
	Options     Options   `json:"options"`
	Phases      []Phase   `json:"phases"`
	PeakRSSMiB  float64   `json:"peak_rss_mib"`
	GoMaxProcs  int       `json:"cpus"`
	Description string    `json:"description"`
}

// receiver counts deliveries and their latency from the sentAt the producer put in the event.
type receiver struct {
	srv *http.Server
	url string
	mu  sync.Mutex
	// seen holds the webhook-ids received, decoded from msg_<32 hex digits> to 16 bytes: a map
	// without pointers, which the collector does not scan. Keyed by the id strings, the
	// benchmark's own bookkeeping (100,000 strings by the end of a round) was scanned on every
	// collection, a cost charged to Herald's deliveries and not to the baseline's requests.
	seen      map[[16]byte]struct{}
	seenOther map[string]struct{} // ids of another shape (none from Herald)
	latencies []time.Duration
	count     atomic.Int64
	dups      atomic.Int64
	conns     atomic.Int64 // connections accepted
	last      atomic.Int64 // unix nanos of the last receipt
	expect    int
}

// newReceiver starts a receiver; one that records expects about expect deliveries per phase and
// sizes its bookkeeping for them up front, so that growing it is not counted against Herald.
func newReceiver(record bool, expect int) (*receiver, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	rc := &receiver{url: "http://" + l.Addr().String() + "/hook", expect: expect}
	rc.reset()
	rc.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost { // endpoint verification when subscribing
			return
		}
		body, _ := io.ReadAll(r.Body)
		now := time.Now()
		if record {
			id := r.Header.Get("webhook-id")
			lat := time.Duration(-1)
			if i := bytes.LastIndex(body, []byte(`"sentAt":`)); i >= 0 { // last in the event, near the end
				rest := body[i+len(`"sentAt":`):]
				if j := bytes.IndexAny(rest, ",}"); j > 0 {
					if ns, err := strconv.ParseInt(string(rest[:j]), 10, 64); err == nil {
						lat = now.Sub(time.Unix(0, ns))
					}
				}
			}
			rc.mu.Lock()
			if rc.markSeen(id) {
				if lat >= 0 {
					rc.latencies = append(rc.latencies, lat)
				}
			} else {
				rc.dups.Add(1)
			}
			rc.mu.Unlock()
		}
		rc.count.Add(1)
		rc.last.Store(now.UnixNano())
	})}
	rc.srv.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			rc.conns.Add(1)
		}
	}
	go func() { _ = rc.srv.Serve(l) }()
	return rc, nil
}

// markSeen records a webhook-id and reports whether it is new. rc.mu is held.
func (rc *receiver) markSeen(id string) bool {
	var k [16]byte
	if h, ok := strings.CutPrefix(id, "msg_"); ok && len(h) == 32 {
		if _, err := hex.Decode(k[:], []byte(h)); err == nil {
			if _, dup := rc.seen[k]; dup {
				return false
			}
			rc.seen[k] = struct{}{}
			return true
		}
	}
	if _, dup := rc.seenOther[id]; dup {
		return false
	}
	rc.seenOther[id] = struct{}{}
	return true
}

func (rc *receiver) reset() {
	rc.mu.Lock()
	rc.seen, rc.seenOther = make(map[[16]byte]struct{}, rc.expect), map[string]struct{}{}
	rc.latencies = make([]time.Duration, 0, rc.expect)
	rc.mu.Unlock()
	rc.count.Store(0)
	rc.dups.Store(0)
	rc.conns.Store(0)
}

// mark is what had been used at one moment: CPU time by this process and by the stand-ins'
// child process, bytes allocated on this process's heap, and its collector's CPU time.
type mark struct {
	self, standins time.Duration
	allocs         uint64
	gc             float64 // seconds
}

func markNow(srv *servers) mark {
	sample := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}, {Name: "/cpu/classes/gc/total:cpu-seconds"}}
	metrics.Read(sample)
	return mark{self: cpuTime(), standins: srv.cpu(), allocs: sample[0].Value.Uint64(), gc: sample[1].Value.Float64()}
}

// setCost sets p's cost figures: what was used since m, per item.
func setCost(p *Phase, m mark, srv *servers, items float64) {
	now := markNow(srv)
	standins := now.standins - m.standins
	p.CPUus = float64((now.self - m.self + standins).Microseconds()) / items
	p.StandinCPUus = float64(standins.Microseconds()) / items
	p.AllocKiB = float64(now.allocs-m.allocs) / 1024 / items
	p.GCus = (now.gc - m.gc) * 1e6 / items
}

// cpuTime is the CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func peakRSSMiB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

func percentile(d []time.Duration, p float64) float64 {
	if len(d) == 0 {
		return 0
	}
	i := int(float64(len(d)-1) * p)
	return float64(d[i]) / float64(time.Millisecond)
}

// Baseline measures a bare POST loop: 1 KiB bodies, keep-alive, a pool sized to the concurrency.
// It runs under the pprof label phase=baseline, also when a phase measures it for itself.
func Baseline(ctx context.Context, o Options, total int) (p Phase, err error) {
	err = labelled(ctx, "baseline", func(ctx context.Context) error {
		p, err = baseline(ctx, o, total)
		return err
	})
	return p, err
}

func baseline(ctx context.Context, o Options, total int) (Phase, error) {
	o.defaults()
	rc, err := newReceiver(false, 0)
	if err != nil {
		return Phase{}, err
	}
	defer rc.srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: o.Concurrency, MaxIdleConnsPerHost: o.Concurrency}}
	body := bytes.Repeat([]byte("x"), o.BodyBytes)
	var left atomic.Int64
	left.Store(int64(total))
	cpu0, start := markNow(nil), time.Now()
	var wg sync.WaitGroup
	for range o.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for left.Add(-1) >= 0 && ctx.Err() == nil {
				resp, err := client.Post(rc.url, "application/json", bytes.NewReader(body))
				if err != nil {
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	n := rc.count.Load()
	p := Phase{Name: "baseline: bare HTTP POST loop", Count: n, Seconds: el.Seconds(), PerSecond: float64(n) / el.Seconds(), Connections: rc.conns.Load()}
	setCost(&p, cpu0, nil, float64(n))
	return p, nil
}

// stack is Herald running in this process on in-memory stand-ins.
type stack struct {
	servers  *servers
	reg      *registry.Service
	match    *matcher.Service
	disp     *dispatcher.Service
	base     string
	token    string
	key      string
	ctx      context.Context
	cancel   context.CancelFunc
	done     []chan error
	recv     []*receiver
	producer *kafka.Writer
}

const token = "bench-admin-token-0123456789"

func startStack(ctx context.Context, o Options, withMatcher, withDispatcher bool) (*stack, error) {
	all := append(append(topics.Names{}.InputTopics(), topics.Invalid, topics.Payloads), dispatcher.Topics(dispatcher.DefaultConfig())...)
	servers, err := startServers(o, all)
	if err != nil {
		return nil, err
	}
	s := &stack{servers: servers, token: token}
	ctx, s.cancel = context.WithCancel(ctx)
	key := secretbox.NewKey()
	s.key, s.ctx = key, ctx
	rc := registry.DefaultConfig()
	rc.HTTPAddr, rc.GRPCAddr, rc.MongoURI, rc.MongoMaxPoolSize = "127.0.0.1:0", "127.0.0.1:0", servers.MongoURI, 1
	rc.AdminToken, rc.SecretKeys, rc.AllowLoopback = token, key, true
	if s.reg, err = registry.New(ctx, rc, o.Log); err != nil {
		s.close()
		return nil, err
	}
	s.base = "http://" + s.reg.HTTPAddr()
	s.run(ctx, s.reg.Run)
	if withMatcher {
		mc := matcher.DefaultConfig()
		mc.HTTPAddr, mc.GRPCAddr, mc.KafkaBrokers, mc.RegistryAddr, mc.AdminToken = "127.0.0.1:0", "127.0.0.1:0", servers.KafkaBrokers, s.reg.GRPCAddr(), token
		if s.match, err = matcher.New(mc, o.Log); err != nil {
			s.close()
			return nil, err
		}
		s.run(ctx, s.match.Run)
	}
	if withDispatcher {
		if err := s.startDispatcher(o); err != nil {
			s.close()
			return nil, err
		}
	}
	for range o.Receivers {
		r, err := newReceiver(true, o.deliveries()/o.Receivers*5/4)
		if err != nil {
			s.close()
			return nil, err
		}
		s.recv = append(s.recv, r)
	}
	s.producer = &kafka.Writer{Addr: kafka.TCP(servers.KafkaBrokers...), Topic: "entity", RequiredAcks: kafka.RequireAll,
		BatchTimeout: time.Millisecond, BatchSize: 500, Balancer: &kafka.RoundRobin{}}
	return s, nil
}

func (s *stack) startDispatcher(o Options) error {
	dc := dispatcher.DefaultConfig()
	dc.HTTPAddr, dc.GRPCAddr, dc.KafkaBrokers, dc.RegistryAddr = "127.0.0.1:0", "127.0.0.1:0", s.servers.KafkaBrokers, s.reg.GRPCAddr()
	dc.AdminToken, dc.SecretKeys, dc.AllowLoopback = token, s.key, true
	d, err := dispatcher.New(dc, o.Log)
	if err != nil {
		return err
	}
	s.disp = d
	s.run(s.ctx, d.Run)
	return nil
}

func (s *stack) run(ctx context.Context, f func(context.Context) error) {
	done := make(chan error, 1)
	s.done = append(s.done, done)
	go func() { done <- f(ctx) }()
}

func (s *stack) close() {
	if s.producer != nil {
		_ = s.producer.Close()
	}
	s.cancel()
	for _, d := range s.done {
		<-d
	}
	for _, r := range s.recv {
		_ = r.srv.Close()
	}
	s.servers.close()
}

func (s *stack) api(method, path, key string, body any) (map[string]any, error) {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, s.base+path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	if res.StatusCode >= 300 {
		return nil, fmt.Errorf("%s %s: %d %v", method, path, res.StatusCode, out)
	}
	d, _ := out["data"].(map[string]any)
	return d, nil
}

// configure registers one event whose filter passes half the events and the subscriptions.
func (s *stack) configure(o Options) error {
	pub, err := s.api("POST", "/v1/apps", token, map[string]any{"name": "bench-publisher", "permissions": []string{"p"}})
	if err != nil {
		return err
	}
	pubKey := pub["apiKey"].(string)
	if _, err := s.api("POST", "/v1/appconfig", pubKey, map[string]any{"permissions": []string{"p"}}); err != nil {
		return err
	}
	if _, err := s.api("POST", "/v1/topics/entity/events", pubKey, map[string]any{"getApiPath": "/things/{id}", "events": []any{
		map[string]any{"name": "thing", "eventType": "thingChanged", "filterLogic": map[string]any{"==": []any{map[string]any{"var": "pass"}, true}}},
	}}); err != nil {
		return err
	}
	for i := range o.Subscriptions {
		url := s.recv[i%len(s.recv)].url
		if _, err := s.api("POST", "/v1/subscriptions", pubKey, map[string]any{"appId": pub["id"], "topic": "entity", "events": []string{"thing"}, "url": url}); err != nil {
			return err
		}
	}
	return nil
}

// event makes an input event of about o.BodyBytes with sentAt last, read by the receivers.
func event(o Options, i int, pass bool) kafka.Message {
	head := fmt.Sprintf(`{"eventType":"thingChanged","id":"t%d","pass":%t,"pad":"`, i, pass)
	pad := max(o.BodyBytes-len(head)-40, 0)
	v := head + strings.Repeat("p", pad) + `","sentAt":` + strconv.FormatInt(time.Now().UnixNano(), 10) + "}"
	return kafka.Message{Value: []byte(v)}
}

// count is the cheap progress check used while waiting: no copying, no sorting.
func (s *stack) count() int64 {
	var n int64
	for _, r := range s.recv {
		n += r.count.Load() - r.dups.Load()
	}
	return n
}

// connections is how many connections the receivers accepted since the last reset.
func (s *stack) connections() int64 {
	var n int64
	for _, r := range s.recv {
		n += r.conns.Load()
	}
	return n
}

// received collects the results once a phase is over.
func (s *stack) received() (n, dups int64, lat []time.Duration, last time.Time) {
	var lastNs int64
	for _, r := range s.recv {
		n += r.count.Load() - r.dups.Load()
		dups += r.dups.Load()
		r.mu.Lock()
		lat = append(lat, r.latencies...)
		r.mu.Unlock()
		lastNs = max(lastNs, r.last.Load())
	}
	slices.Sort(lat)
	return n, dups, lat, time.Unix(0, lastNs)
}

func (s *stack) reset() {
	for _, r := range s.recv {
		r.reset()
	}
}

func waitFor(ctx context.Context, timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s", timeout)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// warmUp sends one passing event at a time until one reaches every subscription: then the
// consumer groups have joined and the matcher's configuration holds all the subscriptions,
// which arrive one by one after configure.
func (s *stack) warmUp(ctx context.Context, o Options) error {
	deadline := time.Now().Add(90 * time.Second)
	for i := 0; ; i++ {
		s.reset()
		if err := s.producer.WriteMessages(ctx, event(o, -1-i, true)); err != nil {
			return err
		}
		if waitFor(ctx, 3*time.Second, func() bool { return s.count() >= int64(o.Subscriptions) }) == nil {
			break
		}
		if time.Now().After(deadline) {
			n, _, _, _ := s.received()
			return fmt.Errorf("warm-up: an event reached %d of %d subscriptions", n, o.Subscriptions)
		}
	}
	time.Sleep(500 * time.Millisecond) // let stragglers of earlier warm-up events land
	s.reset()
	return nil
}

// configuredStack starts a stack (the dispatcher too when withDispatcher), registers the
// benchmark's event and subscriptions, and waits until its services have their configuration.
func configuredStack(ctx context.Context, o Options, withDispatcher bool) (*stack, error) {
	s, err := startStack(ctx, o, true, withDispatcher)
	if err != nil {
		return nil, err
	}
	if err := s.configure(o); err != nil {
		s.close()
		return nil, err
	}
	// Every subscription must have reached the services before an event is produced: a
	// matcher a few changes behind makes fewer jobs (which is right for it, and left the
	// dispatcher-alone phase waiting for deliveries that were never asked for).
	version, err := s.reg.ConfigVersion(ctx)
	if err != nil {
		s.close()
		return nil, err
	}
	current := func() bool {
		return s.match.ConfigVersion() >= version && (s.disp == nil || s.disp.ConfigVersion() >= version)
	}
	if err := waitFor(ctx, 30*time.Second, current); err != nil {
		s.close()
		return nil, fmt.Errorf("services not ready: %w", err)
	}
	return s, nil
}

// deliveries is how many deliveries o.Events events make: half pass the filter, each reaches
// every subscription.
func (o Options) deliveries() int { return o.Events / 2 * o.Subscriptions }

// events makes o.Events events numbered from first, every other one passing the filter.
func events(o Options, first int) []kafka.Message {
	msgs := make([]kafka.Message, o.Events)
	for i := range msgs {
		msgs[i] = event(o, first+i, i%2 == 0)
	}
	return msgs
}

// EndToEnd runs the saturated phase (o.Rounds times, each right after a baseline of its own)
// and then the paced phase, on one stack.
func EndToEnd(ctx context.Context, o Options, baseline float64) ([]Phase, error) {
	o.defaults()
	s, err := configuredStack(ctx, o, true)
	if err != nil {
		return nil, err
	}
	defer s.close()
	if err := s.warmUp(ctx, o); err != nil {
		return nil, err
	}

	// Saturated: everything at once, in rounds; each round's rate is set against a baseline
	// measured just before it, so a machine that speeds up or slows down during the run moves
	// both. The round with the median ratio is reported.
	want := int64(o.deliveries())
	var rounds []Phase
	for r := range o.Rounds {
		b, err := Baseline(ctx, o, o.deliveries())
		if err != nil {
			return nil, fmt.Errorf("baseline of round %d: %w", r+1, err)
		}
		s.reset()
		sat, err := s.saturated(ctx, o, want, r)
		if err != nil {
			return nil, err
		}
		sat.Ratio = sat.PerSecond / b.PerSecond
		rounds = append(rounds, sat)
		// CPU per delivery too: it drifts less with the machine's load than the rates do, so
		// comparing builds by it (run alternately) needs fewer runs.
		fmt.Fprintf(o.Progress, "  round %d: baseline %.0f/s at %.1f µs CPU each, herald %.0f/s at %.1f µs (%.1f the stand-ins), ratio %.3f (by CPU %.3f)\n",
			r+1, b.PerSecond, b.CPUus, sat.PerSecond, sat.CPUus, sat.StandinCPUus, sat.Ratio, b.CPUus/sat.CPUus)
	}
	slices.SortFunc(rounds, func(a, b Phase) int { return cmp.Compare(a.Ratio, b.Ratio) })
	sat := rounds[len(rounds)/2]
	for _, r := range rounds {
		sat.RoundRatios = append(sat.RoundRatios, math.Round(r.Ratio*1000)/1000)
	}

	// Paced: events at a steady rate giving PacedFraction of the saturated delivery rate.
	s.reset()
	deliveriesPerEvent := float64(o.Subscriptions) / 2
	eventsPerSec := sat.PerSecond * o.PacedFraction / deliveriesPerEvent
	total := int(eventsPerSec * o.PacedSeconds)
	interval := time.Duration(float64(time.Second) / eventsPerSec)
	cpu0, start := markNow(s.servers), time.Now()
	for i := range total {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		if err := s.producer.WriteMessages(ctx, event(o, i, i%2 == 0)); err != nil {
			return nil, err
		}
	}
	want = int64((total+1)/2) * int64(o.Subscriptions)
	if err := waitFor(ctx, 5*time.Minute, func() bool { return s.count() >= want }); err != nil {
		return nil, fmt.Errorf("paced run: %w", err)
	}
	n, dups, lat, last := s.received()
	el := last.Sub(start)
	paced := Phase{Name: fmt.Sprintf("herald end to end, paced at %.0f%% of saturation", o.PacedFraction*100), Count: n, Seconds: el.Seconds(),
		PerSecond: float64(n) / el.Seconds(), P50ms: percentile(lat, 0.5), P99ms: percentile(lat, 0.99), MaxMs: percentile(lat, 1),
		Duplicates: dups, Connections: s.connections()}
	setCost(&paced, cpu0, s.servers, float64(n))
	paced.Ratio = paced.PerSecond / baseline // the rate asked of it, so a fraction of saturation
	return []Phase{sat, paced}, nil
}

// saturated produces o.Events events at once (round r numbers them apart from earlier rounds)
// and measures until every delivery has arrived.
func (s *stack) saturated(ctx context.Context, o Options, want int64, r int) (Phase, error) {
	msgs := events(o, r*o.Events)
	cpu0, start := markNow(s.servers), time.Now()
	if err := s.producer.WriteMessages(ctx, msgs...); err != nil {
		return Phase{}, err
	}
	if err := waitFor(ctx, 10*time.Minute, func() bool { return s.count() >= want }); err != nil {
		n, _, _, _ := s.received()
		return Phase{}, fmt.Errorf("saturated run: %d of %d deliveries: %w", n, want, err)
	}
	n, dups, lat, last := s.received()
	el := last.Sub(start)
	p := Phase{Name: "herald end to end, saturated", Count: n, Seconds: el.Seconds(), PerSecond: float64(n) / el.Seconds(),
		P50ms: percentile(lat, 0.5), P99ms: percentile(lat, 0.99), MaxMs: percentile(lat, 1), Duplicates: dups, Connections: s.connections()}
	setCost(&p, cpu0, s.servers, float64(n))
	return p, nil
}

// MatcherAlone measures events through the matcher: decoded, filtered, jobs produced, committed;
// against a baseline measured right before.
func MatcherAlone(ctx context.Context, o Options) (Phase, error) {
	o.defaults()
	s, err := configuredStack(ctx, o, false)
	if err != nil {
		return Phase{}, err
	}
	defer s.close()
	msgs := events(o, 0)
	baseline, err := Baseline(ctx, o, o.deliveries()) // right before: the machine's speed drifts
	if err != nil {
		return Phase{}, err
	}
	cpu0, start := markNow(s.servers), time.Now()
	if err := s.producer.WriteMessages(ctx, msgs...); err != nil {
		return Phase{}, err
	}
	if err := waitFor(ctx, 5*time.Minute, func() bool { return s.match.Handled() >= int64(o.Events) }); err != nil {
		return Phase{}, err
	}
	el := time.Since(start)
	jobs := float64(o.deliveries())
	p := Phase{Name: "matcher alone (jobs produced)", Count: int64(jobs), Seconds: el.Seconds(), PerSecond: jobs / el.Seconds()}
	setCost(&p, cpu0, s.servers, jobs)
	p.Ratio = p.PerSecond / baseline.PerSecond
	return p, nil
}

// DispatcherAlone lets the matcher fill herald.deliveries, then starts the dispatcher and
// measures how fast it empties it, against a baseline measured right before.
func DispatcherAlone(ctx context.Context, o Options) (Phase, error) {
	o.defaults()
	s, err := configuredStack(ctx, o, false)
	if err != nil {
		return Phase{}, err
	}
	defer s.close()
	msgs := events(o, 0)
	if err := s.producer.WriteMessages(ctx, msgs...); err != nil {
		return Phase{}, err
	}
	if err := waitFor(ctx, 5*time.Minute, func() bool { return s.match.Handled() >= int64(o.Events) }); err != nil {
		return Phase{}, err
	}
	want := int64(o.deliveries())
	baseline, err := Baseline(ctx, o, o.deliveries()) // right before: the machine's speed drifts
	if err != nil {
		return Phase{}, err
	}
	cpu0, start := markNow(s.servers), time.Now()
	if err := s.startDispatcher(o); err != nil {
		return Phase{}, err
	}
	if err := waitFor(ctx, 10*time.Minute, func() bool { return s.count() >= want }); err != nil {
		return Phase{}, err
	}
	n, dups, _, last := s.received()
	el := last.Sub(start)
	p := Phase{Name: "dispatcher alone (from a full herald.deliveries)", Count: n, Seconds: el.Seconds(), PerSecond: float64(n) / el.Seconds(),
		Duplicates: dups, Connections: s.connections()}
	setCost(&p, cpu0, s.servers, float64(n))
	p.Ratio = p.PerSecond / baseline.PerSecond
	return p, nil
}

// Run runs every phase, prints the table to out, and writes the report as JSON to file
// (comparing with the report already there, if any).
func Run(ctx context.Context, o Options, file string, out io.Writer) (*Report, error) {
	if o.Progress == nil {
		o.Progress = out
	}
	o.defaults()
	rep := &Report{Time: time.Now().UTC(), Options: o, GoMaxProcs: runtimeCPUs(),
		Description: "deliveries/s end to end (Kafka -> matcher -> dispatcher -> loopback receivers), ratio to a bare HTTP POST loop measured in the same run; " +
			"CPU per item counts this process and the stand-ins' child process"}
	fmt.Fprintln(out, "measuring the baseline ...")
	// Each phase runs under a pprof label (phase=baseline|e2e|matcher|dispatcher), which every
	// goroutine it starts inherits: `go tool pprof -tagfocus phase=e2e` shows one phase alone.
	base, err := Baseline(ctx, o, o.deliveries())
	if err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	base.Ratio = 1
	rep.Phases = append(rep.Phases, base)
	phases := []struct {
		label, what string
		run         func(context.Context) ([]Phase, error)
	}{
		{"e2e", "herald end to end", func(ctx context.Context) ([]Phase, error) { return EndToEnd(ctx, o, base.PerSecond) }},
		{"matcher", "the matcher alone", func(ctx context.Context) ([]Phase, error) {
			p, err := MatcherAlone(ctx, o)
			return []Phase{p}, err
		}},
		{"dispatcher", "the dispatcher alone", func(ctx context.Context) ([]Phase, error) {
			p, err := DispatcherAlone(ctx, o)
			return []Phase{p}, err
		}},
	}
	for _, ph := range phases {
		if o.Only != "" && o.Only != ph.label {
			continue
		}
		fmt.Fprintf(out, "measuring %s ...\n", ph.what)
		var got []Phase
		err = labelled(ctx, ph.label, func(ctx context.Context) (err error) {
			got, err = ph.run(ctx)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ph.what, err)
		}
		rep.Phases = append(rep.Phases, got...)
	}
	rep.PeakRSSMiB = peakRSSMiB()

	var prev *Report
	if b, err := os.ReadFile(file); err == nil {
		prev = &Report{}
		if json.Unmarshal(b, prev) != nil {
			prev = nil
		}
	}
	printTable(out, rep, prev)
	if o.Only != "" {
		fmt.Fprintf(out, "\none phase only: not written to %s\n", file)
		return rep, nil
	}
	if file != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(file, append(b, '\n'), 0o644); err != nil {
			return rep, err
		}
		fmt.Fprintf(out, "\nwritten to %s (the next run compares with it)\n", file)
	}
	return rep, nil
}

func printTable(out io.Writer, rep *Report, prev *Report) {
	fmt.Fprintf(out, "\n%-50s %9s %10s %7s %8s %8s %8s %10s %9s %6s %9s %6s", "phase", "count", "per sec", "ratio", "p50 ms", "p99 ms", "max ms", "cpu us/op", "stand-ins", "gc", "KiB/op", "conns")
	if prev != nil {
		fmt.Fprintf(out, " %10s", "ratio was")
	}
	fmt.Fprintln(out)
	for _, p := range rep.Phases {
		fmt.Fprintf(out, "%-50s %9d %10.0f %7.2f %8s %8s %8s %10.1f %9s %6s %9.1f %6d", p.Name, p.Count, p.PerSecond, p.Ratio, ms(p.P50ms), ms(p.P99ms), ms(p.MaxMs), p.CPUus, ms(p.StandinCPUus), ms(p.GCus), p.AllocKiB, p.Connections)
		if prev != nil {
			for _, q := range prev.Phases {
				if q.Name == p.Name {
					fmt.Fprintf(out, " %10.2f", q.Ratio)
				}
			}
		}
		if p.Duplicates > 0 {
			fmt.Fprintf(out, "  (%d duplicates)", p.Duplicates)
		}
		if len(p.RoundRatios) > 1 {
			fmt.Fprintf(out, "  (median of rounds %v, each against its own baseline)", p.RoundRatios)
		}
		fmt.Fprintln(out)
	}
	where := "the Herald process (services, receivers, baseline loop; kfake and FerretDB ran in a child process)"
	if rep.Options.InProcess {
		where = "the whole process (kfake, FerretDB, services, receivers)"
	}
	fmt.Fprintf(out, "peak RSS of %s: %.0f MiB on %d CPUs\n", where, rep.PeakRSSMiB, rep.GoMaxProcs)
}

func ms(v float64) string {
	if v == 0 {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

func labelled(ctx context.Context, phase string, f func(context.Context) error) (err error) {
	pprof.Do(ctx, pprof.Labels("phase", phase), func(ctx context.Context) { err = f(ctx) })
	return err
}

func runtimeCPUs() int { return runtime.GOMAXPROCS(0) }
