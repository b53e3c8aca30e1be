package heraldctl

import (
	"bytes"
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/heraldhq/herald/pkg/filter"
	"github.com/heraldhq/herald/pkg/signature"
	"github.com/segmentio/kafka-go"
)

// os1Example is the OS1 publisher example that the demo applies.
//
//go:embed examples/os1-publisher.yaml
var os1Example []byte

const (
	demoTopic         = "participant"
	demoSubFilter     = `{"==":["$region","eu"]}`
	demoSettle        = 2 * time.Second  // for the matcher and dispatcher to load a new subscription
	demoResendAfter   = 12 * time.Second // produce again when nothing arrived by then
	demoGrace         = time.Second      // after the expected deliveries, for unexpected ones
	demoLogWait       = 5 * time.Second  // for the registry's delivery log to catch up
	demoRetrySchedule = "0s,2s"
)

func demoCmd() *command {
	var kafkaAddr, dataDir, topicPrefix string
	var wait time.Duration
	return &command{
		name:    "demo",
		args:    "[--kafka ADDR] [--wait 30s]",
		summary: "a guided tour against a running `make run`: publish, filter, sign, retry (admin token)",
		help: `The demo creates a publisher and a subscriber app, applies the OS1 example
(examples/os1-publisher.yaml), starts a receiver on 127.0.0.1 that verifies every signature and
fails the first delivery with 500, subscribes to usercreated for region "eu" with the retry
schedule 0s, 2s, produces five messages to Kafka and explains what happened to each: delivered
(signature verified), retried with the same webhook-id, or filtered and why.

The admin token comes from --token, HERALD_TOKEN or DATA_DIR/admin-token (make run writes it).
The subscription is paused at the end, since its receiver is gone.`,
		maxArgs: 0,
		setup: func(fs *flag.FlagSet) {
			fs.StringVar(&kafkaAddr, "kafka", envOr("HERALD_KAFKA_ADDR", "127.0.0.1:9092"), "the Kafka broker `address` (make run prints it; HERALD_KAFKA_ADDR)")
			fs.StringVar(&dataDir, "data-dir", envOr("HERALD_DATA_DIR", ".data"), "where make run keeps admin-token, used when there is no --token (`dir`)")
			fs.StringVar(&topicPrefix, "topic-prefix", os.Getenv("HERALD_TOPIC_PREFIX"), "the Kafka topic `prefix` Herald runs with (HERALD_TOPIC_PREFIX)")
			fs.DurationVar(&wait, "wait", 30*time.Second, "how long to wait for the deliveries")
		},
		run: func(ctx context.Context, c *cli, _ []string) error {
			if c.token == "" {
				b, err := os.ReadFile(filepath.Join(dataDir, "admin-token"))
				if err != nil {
					return usagef("no admin token: pass --token, set HERALD_TOKEN, or run from the folder where make run keeps %s/admin-token (%v)", dataDir, err)
				}
				c.token = strings.TrimSpace(string(b))
			}
			d := &demo{cli: c, out: c.stdout, kafka: kafkaAddr, topic: topicPrefix + demoTopic, wait: wait}
			return d.run(ctx)
		},
	}
}

// demo is one run of the guided demo.
type demo struct {
	cli   *cli
	out   io.Writer
	kafka string
	topic string // the Kafka topic, with the prefix
	wait  time.Duration

	suffix         string
	pubID, pubKey  string
	subAppID       string
	subKey         string
	sub            subscription
	events         []event // the publisher's registered events, as stored
	recv           *receiver
	messages       []demoMessage
	receiverURL    string
	deliveredCount int
	paused         bool
}

// demoMessage is one message the demo produces, with what the rules say should happen to it.
type demoMessage struct {
	n       int
	label   string
	userID  string
	value   []byte
	verdict verdict
}

// as returns a copy of the CLI that calls the API with another key.
func (c *cli) as(token string) *cli {
	cp := *c
	cp.token, cp.output = token, "text"
	return &cp
}

func (d *demo) say(format string, a ...any) { fmt.Fprintf(d.out, format, a...) }

func (d *demo) heading(title string) {
	d.say("\n── %s %s\n", title, strings.Repeat("─", max(3, 72-len([]rune(title)))))
}

func (d *demo) run(ctx context.Context) error {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	d.suffix = hex.EncodeToString(b)
	d.say("Herald guided demo (run %s)\nAPI %s, Kafka broker %s\n", d.suffix, d.cli.server, d.kafka)

	if err := d.createApps(ctx); err != nil {
		return err
	}
	if err := d.applyExample(ctx); err != nil {
		return err
	}
	recv, err := startReceiver()
	if err != nil {
		return err
	}
	defer recv.close()
	d.recv = recv
	d.receiverURL = "http://" + recv.addr + "/hooks/crm"
	d.heading("3. A webhook receiver")
	d.say("Listening on %s. It verifies the Standard Webhooks signature of every request\nand answers 500 to the first delivery, so that Herald has to retry it.\n", d.receiverURL)

	if err := d.subscribe(ctx); err != nil {
		return err
	}
	defer func() { _ = d.pause() }() // when the demo ends early

	ok, err := d.produceAndWait(ctx)
	if err != nil {
		return err
	}
	ok = d.report() && ok
	d.deliveryLog(ctx)
	d.heading("Try next")
	if err := d.pause(); err != nil {
		d.say("Pausing the demo's subscription failed (%v); pause it with the first command below.\n", err)
	} else {
		d.say("The demo paused its subscription, since its receiver stops with the demo.\n")
	}
	d.tryNext()
	if !ok {
		return errors.New("the demo did not go as expected (see above); is the matcher and dispatcher running (make run)?")
	}
	d.say("\nDone: every message went where the rules say it should.\n")
	return nil
}

func (d *demo) createApps(ctx context.Context) error {
	d.heading("1. Two apps (the operator, with the admin token)")
	admin := d.cli.as(d.cli.token)
	create := func(name string, perms []string) (string, string, error) {
		data, err := admin.call(ctx, http.MethodPost, "/v1/apps", map[string]any{"name": name, "permissions": perms})
		if err != nil {
			return "", "", err
		}
		var r struct {
			ID     string `json:"id"`
			APIKey string `json:"apiKey"`
		}
		return r.ID, r.APIKey, decode(data, &r)
	}
	var err error
	if d.pubID, d.pubKey, err = create("demo-user-service-"+d.suffix, []string{}); err != nil {
		return err
	}
	if d.subAppID, d.subKey, err = create("demo-crm-"+d.suffix, []string{"get user details"}); err != nil {
		return err
	}
	d.say("publisher   demo-user-service-%s  %s\n", d.suffix, d.pubID)
	d.say("subscriber  demo-crm-%s           %s  holds the permission \"get user details\"\n", d.suffix, d.subAppID)
	d.say("Each app got an API key (shown once); the demo uses them below.\n")
	return nil
}

func (d *demo) applyExample(ctx context.Context) error {
	d.heading("2. The publisher applies the OS1 example (heraldctl apply)")
	want, err := ParsePublisherFile(os1Example)
	if err != nil {
		return fmt.Errorf("the embedded example: %w", err)
	}
	pub := d.cli.as(d.pubKey)
	d.say("createAppConfig and registerEvents from examples/os1-publisher.yaml:\n")
	if _, err := pub.apply(ctx, want, applyOptions{out: d.out}); err != nil {
		return err
	}
	items, _, err := pub.listAll(ctx, "/v1/topics/"+demoTopic+"/events", "events", nil, 0)
	if err != nil {
		return err
	}
	d.events, err = decodeItems[event](items)
	return err
}

func (d *demo) subscribe(ctx context.Context) error {
	d.heading("4. The subscriber subscribes to usercreated (heraldctl subscribe)")
	sub := d.cli.as(d.subKey)
	body := map[string]any{
		"appId": d.pubID, "topic": demoTopic, "events": []string{"usercreated"}, "url": d.receiverURL,
		"filterLogic": json.RawMessage(demoSubFilter),
		"options":     subscriptionOptions{RetrySchedule: strings.Split(demoRetrySchedule, ",")},
		"description": "heraldctl demo " + d.suffix,
	}
	data, err := sub.call(ctx, http.MethodPost, "/v1/subscriptions", body)
	if err != nil {
		return err
	}
	var r struct {
		ID           string       `json:"id"`
		Secret       string       `json:"secret"`
		Subscription subscription `json:"subscription"`
	}
	if err := decode(data, &r); err != nil {
		return err
	}
	key, err := signature.ParseSecret(r.Secret)
	if err != nil {
		return fmt.Errorf("the subscription's secret: %w", err)
	}
	d.recv.setKey(key)
	d.sub = r.Subscription
	if r.Subscription.Status != "active" {
		return fmt.Errorf("the subscription is %s, not active: %s", r.Subscription.Status, r.Subscription.StatusReason)
	}
	d.say("subscription  %s (%s)\n", r.ID, r.Subscription.Status)
	if m := d.recv.checked(); m != "" {
		d.say("endpoint      verified: Herald sent a %s request before activating the subscription (answered 200)\n", m)
	}
	d.say("its filter    %s   (only users in region \"eu\")\n", compactJSON(r.Subscription.FilterLogic))
	d.say("retries       %s   (the first retry is immediate)\n", strings.ReplaceAll(demoRetrySchedule, ",", ", "))
	d.say("secret        %s…   (shown once; the receiver verifies with it)\n", r.Secret[:min(len(r.Secret), 14)])
	return nil
}

// makeMessages returns the demo's messages of one round. User ids have the same length, so
// none is a prefix of another.
func (d *demo) makeMessages(round int) []demoMessage {
	id := func(n int) string { return fmt.Sprintf("u-%s-%d%d", d.suffix, round, n) }
	msgs := []demoMessage{
		{n: 1, label: "a new user in region eu", userID: id(1),
			value: fmt.Appendf(nil, `{"eventType":"userCreatedEvent","userId":%q,"name":"Ada Lovelace","region":"eu"}`, id(1))},
		{n: 2, label: "a user was updated", userID: id(2),
			value: fmt.Appendf(nil, `{"eventType":"userUpdatedEvent","userId":%q,"name":"Ada King","region":"eu"}`, id(2))},
		{n: 3, label: "a new user in region us", userID: id(3),
			value: fmt.Appendf(nil, `{"eventType":"userCreatedEvent","userId":%q,"name":"Grace Hopper","region":"us"}`, id(3))},
		{n: 4, label: "a malformed message", userID: id(4),
			value: fmt.Appendf(nil, `{"eventType":"userCreatedEvent","userId":%q,"name":`, id(4))},
		{n: 5, label: "another new user in region eu", userID: id(5),
			value: fmt.Appendf(nil, `{"eventType":"userCreatedEvent","userId":%q,"name":"Alan Turing","region":"eu"}`, id(5))},
	}
	for i := range msgs {
		msgs[i].verdict = judge(msgs[i].value, map[string]string{"appId": d.pubID}, d.events, d.sub)
	}
	return msgs
}

// produceAndWait produces the messages and waits until every one that should be delivered has
// been (2xx), or the time is up. It produces again once if nothing arrives at first (a matcher
// that has not yet loaded the subscription drops what it reads).
func (d *demo) produceAndWait(ctx context.Context) (bool, error) {
	d.heading("5. The publisher's service writes to Kafka")
	d.say("Waiting %s for the matcher and dispatcher to load the new subscription…\n", demoSettle)
	if !sleep(ctx, demoSettle) {
		return false, ctx.Err()
	}
	w := &kafka.Writer{
		Addr: kafka.TCP(d.kafka), Topic: d.topic, Balancer: &kafka.Hash{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond, WriteTimeout: 10 * time.Second, MaxAttempts: 5,
	}
	defer w.Close()
	deadline := time.Now().Add(d.wait)
	for round := 1; ; round++ {
		d.messages = d.makeMessages(round)
		msgs := make([]kafka.Message, len(d.messages))
		d.say("Producing %d messages to topic %s (one key, so one partition and this order; header appId=%s):\n", len(msgs), d.topic, d.pubID)
		for i, m := range d.messages {
			msgs[i] = kafka.Message{Key: []byte("demo-" + d.suffix), Value: m.value, Headers: []kafka.Header{{Key: "appId", Value: []byte(d.pubID)}}}
			d.say("  #%d %-30s %s\n", m.n, m.label, m.value)
		}
		wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		err := w.WriteMessages(wctx, msgs...)
		cancel()
		if err != nil {
			return false, fmt.Errorf("producing to Kafka at %s: %w\nhint: is make run running? --kafka must be the broker address it prints", d.kafka, err)
		}
		d.say("Waiting for the deliveries (at most %s)…\n", time.Until(deadline).Round(time.Second))
		resendAt := time.Now().Add(demoResendAfter)
		for {
			if d.allArrived() {
				sleep(ctx, demoGrace) // would anything unexpected still arrive?
				return true, nil
			}
			if ctx.Err() != nil {
				return false, ctx.Err()
			}
			if time.Now().After(deadline) {
				return false, nil
			}
			if round == 1 && time.Now().After(resendAt) && d.recv.count() == 0 {
				d.say("Nothing arrived after %s: the matcher may have read the messages before it loaded the subscription. Producing them again.\n", demoResendAfter)
				break
			}
			sleep(ctx, 100*time.Millisecond)
		}
	}
}

// allArrived reports whether every message that should be delivered got a 2xx answer.
func (d *demo) allArrived() bool {
	for _, m := range d.messages {
		if m.verdict.deliver && !d.recv.succeeded(m.userID) {
			return false
		}
	}
	return true
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// report prints what arrived, and what did not and why; it returns whether both agree with
// the rules.
func (d *demo) report() bool {
	d.heading("6. What the receiver got")
	var retried *request
	for _, m := range d.messages {
		reqs := d.recv.requestsFor(m.userID)
		if len(reqs) == 0 {
			continue
		}
		d.say("#%d %s  webhook-id %s\n", m.n, m.label, reqs[0].id)
		for i, r := range reqs {
			sig := "signature verified"
			if r.verifyErr != nil {
				sig = "SIGNATURE NOT VALID: " + r.verifyErr.Error()
			}
			note := ""
			switch {
			case r.status >= 300:
				note = " (the receiver failed it on purpose)"
			case i > 0 && r.id == reqs[0].id:
				note = " (the retry: same webhook-id)"
				retried = &reqs[i]
			case i > 0:
				note = " (another webhook-id!)"
			}
			d.say("   attempt %d  %s  answered %d  %s%s\n", i+1, r.at.Local().Format("15:04:05.000"), r.status, sig, note)
		}
	}
	if d.recv.count() == 0 {
		d.say("Nothing arrived.\n")
	}
	if first := d.recv.first(); first != nil {
		d.say("\nWhat a delivery looks like (the first request):\n")
		var names []string
		for h := range first.header {
			if h != "Accept-Encoding" && h != "Content-Length" {
				names = append(names, h)
			}
		}
		slices.Sort(names)
		d.say("  POST %s\n", first.path)
		for _, h := range names {
			d.say("  %s: %s\n", h, first.header.Get(h))
		}
		var pretty bytes.Buffer
		if json.Indent(&pretty, first.body, "  ", "  ") == nil {
			d.say("  %s\n", pretty.String())
		} else {
			d.say("  %s\n", first.body)
		}
	}

	d.heading("7. What was not delivered, and why (the matcher's rules, evaluated here)")
	for _, m := range d.messages {
		if m.verdict.deliver {
			continue
		}
		d.say("#%d %s: %s\n", m.n, m.label, m.verdict.summary)
		for _, l := range m.verdict.why {
			d.say("     %s\n", l)
		}
	}

	d.heading("8. Checked")
	ok := true
	for _, m := range d.messages {
		got := d.recv.succeeded(m.userID)
		switch {
		case m.verdict.deliver && got:
			d.say("ok  #%d delivered, as its rules say\n", m.n)
		case m.verdict.deliver:
			d.say("!!  #%d should have been delivered but did not arrive within %s\n", m.n, d.wait)
			ok = false
		case len(d.recv.requestsFor(m.userID)) > 0:
			d.say("!!  #%d arrived although the rules filter it out\n", m.n)
			ok = false
		default:
			d.say("ok  #%d not delivered, as its rules say\n", m.n)
		}
	}
	if d.recv.invalidSignatures() > 0 {
		d.say("!!  %d requests had an invalid signature\n", d.recv.invalidSignatures())
		ok = false
	}
	if retried != nil {
		d.say("ok  the failed delivery was retried with the same webhook-id %s\n", retried.id)
	} else if d.recv.count() > 0 {
		d.say("!!  no retry arrived for the request that failed with 500\n")
		ok = false
	}
	d.deliveredCount = 0
	for _, m := range d.messages {
		if d.recv.succeeded(m.userID) {
			d.deliveredCount++
		}
	}
	return ok
}

// deliveryLog shows the registry's record of the deliveries, when the server keeps one.
func (d *demo) deliveryLog(ctx context.Context) {
	d.heading("9. Herald's delivery log (heraldctl deliveries list / get)")
	sub := d.cli.as(d.subKey)
	var ds []delivery
	var err error
	for deadline := time.Now().Add(demoLogWait); ; {
		ds, _, _, err = sub.listDeliveries(ctx, d.sub.ID, "", 20)
		if err != nil || countStatus(ds, "delivered") >= d.deliveredCount || time.Now().After(deadline) {
			break
		}
		sleep(ctx, 250*time.Millisecond)
	}
	if err != nil {
		d.say("This server does not show a delivery log: %v\n", err)
		return
	}
	if len(ds) == 0 {
		d.say("Still empty after %s: this registry does not record attempts (it reads them from\nherald.attempts when Kafka is configured for it, HERALD_KAFKA_BROKERS).\n", demoLogWait)
		return
	}
	tw := newTable(d.out)
	fmt.Fprintln(tw, "  ID\tEVENT\tSTATUS\tATTEMPTS\tLAST CODE")
	for _, x := range ds {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\t%s\n", x.ID, x.EventName, x.Status, x.AttemptCount, code(x.LastStatusCode))
	}
	_ = tw.Flush()
	for _, x := range ds {
		if x.AttemptCount < 2 {
			continue
		}
		data, err := sub.call(ctx, http.MethodGet, "/v1/deliveries/"+pathEscape(x.ID), nil)
		var full delivery
		if err != nil || decode(data, &full) != nil {
			break
		}
		d.say("\nThe attempts of %s, as the registry recorded them (heraldctl deliveries get):\n", x.ID)
		for _, a := range full.Attempts {
			d.say("  attempt %d  %s  code %s  %s\n", a.Attempt+1, clock(a.Time), code(a.StatusCode), a.Outcome)
		}
		break
	}
}

func countStatus(ds []delivery, status string) int {
	n := 0
	for _, x := range ds {
		if x.Status == status {
			n++
		}
	}
	return n
}

func (d *demo) tryNext() {
	d.say("  heraldctl --token %s subscriptions get %s\n", d.subKey, d.sub.ID)
	d.say("  heraldctl --token %s deliveries list %s\n", d.subKey, d.sub.ID)
	d.say("  heraldctl --token %s events list --topic participant\n", d.pubKey)
	d.say("  heraldctl filter test --rule '%s' --event '{\"region\":\"us\"}'\n", demoSubFilter)
}

// pause pauses the demo's subscription (its receiver is gone after the demo), once.
func (d *demo) pause() error {
	if d.sub.ID == "" || d.paused {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := d.cli.as(d.subKey).call(ctx, http.MethodPatch, "/v1/subscriptions/"+pathEscape(d.sub.ID), map[string]any{"status": "paused"})
	d.paused = err == nil
	return err
}

// verdict is what the rules say should happen to a message.
type verdict struct {
	deliver bool
	summary string
	why     []string
}

// judge evaluates a message as the matcher does: the subscribed events' eventType and
// filterLogic, then the subscription's own filter.
func judge(value []byte, headers map[string]string, events []event, sub subscription) verdict {
	data, err := EventData(value, headers)
	if err != nil {
		return verdict{summary: "quarantined, not delivered", why: []string{err.Error(), "the partition kept going: the next message was matched as usual"}}
	}
	eventType, _ := data["eventType"].(string)
	var v verdict
	for _, name := range sub.Events {
		i := slices.IndexFunc(events, func(e event) bool { return e.Name == name })
		if i < 0 {
			continue
		}
		ev := events[i]
		rule, err := filter.Compile(ev.FilterLogic)
		if err != nil {
			v.why = append(v.why, fmt.Sprintf("%s's filterLogic does not compile: %v", name, err))
			continue
		}
		ex, err := Explain(rule, data)
		if err != nil {
			v.why = append(v.why, fmt.Sprintf("%s's filterLogic failed: %v", name, err))
			continue
		}
		if ev.EventType != eventType || !ex.Matched {
			v.summary = "filtered by the publisher's event definition"
			if ev.EventType != eventType {
				v.why = append(v.why, fmt.Sprintf("the subscription is to %s, which listens for eventType %q; this message's eventType is %q", name, ev.EventType, eventType))
			}
			v.why = append(v.why, explainLine(name+"'s filterLogic", ex))
			continue
		}
		subRule, err := filter.Compile(sub.FilterLogic)
		if err != nil {
			v.why = append(v.why, fmt.Sprintf("the subscription's filter does not compile: %v", err))
			continue
		}
		sx, err := Explain(subRule, data)
		if err != nil {
			v.why = append(v.why, fmt.Sprintf("the subscription's filter failed: %v", err))
			continue
		}
		if !sx.Matched {
			v.summary = "filtered by the subscription's own filter"
			v.why = append(v.why, explainLine(name+"'s filterLogic", ex), explainLine("the subscription's filter", sx))
			continue
		}
		return verdict{deliver: true, summary: "delivered", why: []string{explainLine(name+"'s filterLogic", ex), explainLine("the subscription's filter", sx)}}
	}
	// Say which registered event it is, if another one takes it.
	for _, ev := range events {
		if ev.EventType != eventType || slices.Contains(sub.Events, ev.Name) {
			continue
		}
		if rule, err := filter.Compile(ev.FilterLogic); err == nil {
			if ok, _ := rule.Match(data); ok {
				v.why = append(v.why, fmt.Sprintf("it is the publisher's %s event, which this subscription does not ask for", ev.Name))
			}
		}
	}
	if v.summary == "" {
		v.summary = "no subscribed event takes it"
	}
	return v
}

// explainLine is a one-line Explanation: `label {rule} is false (field = value)`.
func explainLine(label string, ex *Explanation) string {
	var fields []string
	for _, o := range ex.Operands {
		for _, f := range o.Fields {
			fields = append(fields, f.text())
		}
	}
	s := fmt.Sprintf("%s %s is %v", label, ex.Rule, ex.Matched)
	if ex.Rule == nil {
		s = label + " is empty: it passes everything"
	}
	if len(fields) > 0 {
		s += " (" + strings.Join(slices.Compact(fields), ", ") + ")"
	}
	return s
}

// receiver is the demo's webhook endpoint.
type receiver struct {
	addr string
	srv  *http.Server

	mu          sync.Mutex
	key         []byte
	reqs        []request // POSTs: deliveries
	checkMethod string    // the method of the last other request: an endpoint check
}

type request struct {
	at        time.Time
	path      string
	id        string
	header    http.Header
	body      []byte
	verifyErr error
	status    int
}

func startReceiver() (*receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("starting the demo receiver: %w", err)
	}
	r := &receiver{addr: ln.Addr().String()}
	r.srv = &http.Server{Handler: http.HandlerFunc(r.serve), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

func (r *receiver) setKey(k []byte) { r.mu.Lock(); r.key = k; r.mu.Unlock() }

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	r.mu.Lock()
	defer r.mu.Unlock()
	if req.Method != http.MethodPost { // endpoint verification (HEAD, or GET)
		r.checkMethod = req.Method
		return
	}
	rec := request{at: time.Now(), path: req.URL.Path, id: req.Header.Get(signature.HeaderID), header: req.Header.Clone(), body: body, status: http.StatusOK}
	ts, err := strconv.ParseInt(req.Header.Get(signature.HeaderTimestamp), 10, 64)
	if err != nil {
		rec.verifyErr = fmt.Errorf("bad %s header: %w", signature.HeaderTimestamp, err)
	} else if len(r.key) == 0 {
		rec.verifyErr = errors.New("no secret yet")
	} else {
		rec.verifyErr = signature.Verify(r.key, rec.id, time.Unix(ts, 0), body, req.Header.Get(signature.HeaderSignature), time.Now(), 0)
	}
	if len(r.reqs) == 0 {
		rec.status = http.StatusInternalServerError // the first request fails, so it is retried
	}
	r.reqs = append(r.reqs, rec)
	w.WriteHeader(rec.status)
}

func (r *receiver) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = r.srv.Shutdown(ctx)
}

func (r *receiver) count() int      { r.mu.Lock(); defer r.mu.Unlock(); return len(r.reqs) }
func (r *receiver) checked() string { r.mu.Lock(); defer r.mu.Unlock(); return r.checkMethod }

func (r *receiver) first() *request {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.reqs) == 0 {
		return nil
	}
	cp := r.reqs[0]
	return &cp
}

// requestsFor returns the requests whose body carries the user id, in arrival order.
func (r *receiver) requestsFor(userID string) []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []request
	for _, q := range r.reqs {
		if bytes.Contains(q.body, []byte(userID)) {
			out = append(out, q)
		}
	}
	return out
}

func (r *receiver) succeeded(userID string) bool {
	for _, q := range r.requestsFor(userID) {
		if q.status < 300 {
			return true
		}
	}
	return false
}

func (r *receiver) invalidSignatures() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, q := range r.reqs {
		if q.verifyErr != nil {
			n++
		}
	}
	return n
}
