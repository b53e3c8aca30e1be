package dispatcher

import (
	"testing"
	"time"
)

func TestCircuitOpensHalfOpensAndCloses(t *testing.T) {
	c := newCircuits(3, time.Second)
	t0 := time.Unix(1000, 0)
	for i := range 3 {
		if !c.allow("h:1", t0) {
			t.Fatalf("closed circuit refused request %d", i)
		}
		c.report("h:1", true, t0)
	}
	if c.allow("h:1", t0.Add(500*time.Millisecond)) {
		t.Fatal("open circuit let a request through")
	}
	if len(c.open()) != 1 || c.open()[0].failures != 3 {
		t.Fatalf("open = %+v", c.open())
	}
	if !c.allow("h:1", t0.Add(1100*time.Millisecond)) {
		t.Fatal("no probe after the cooldown")
	}
	if c.allow("h:1", t0.Add(1100*time.Millisecond)) {
		t.Fatal("a second request went out while the probe was in flight")
	}
	c.report("h:1", true, t0.Add(1200*time.Millisecond)) // the probe failed: open for 2s now
	if c.allow("h:1", t0.Add(2500*time.Millisecond)) || !c.allow("h:1", t0.Add(3300*time.Millisecond)) {
		t.Fatal("the cooldown did not double after a failed probe")
	}
	c.report("h:1", false, t0.Add(3400*time.Millisecond))
	if !c.allow("h:1", t0.Add(3400*time.Millisecond)) || len(c.open()) != 0 {
		t.Fatal("a successful probe did not close the circuit")
	}
	if !c.allow("other:1", t0) {
		t.Fatal("one endpoint's circuit affected another")
	}
}

func TestCircuitSuccessResetsTheCount(t *testing.T) {
	c := newCircuits(3, time.Second)
	t0 := time.Unix(1000, 0)
	c.report("h", true, t0)
	c.report("h", true, t0)
	c.report("h", false, t0)
	c.report("h", true, t0)
	c.report("h", true, t0)
	if !c.allow("h", t0) {
		t.Fatal("failures separated by a success opened the circuit")
	}
}

func TestFailingExpires(t *testing.T) {
	f := &failing{after: time.Hour, since: map[string]time.Time{}}
	t0 := time.Unix(1000, 0)
	if _, exp := f.record("s", true, t0); exp {
		t.Fatal("expired at the first failure")
	}
	if _, exp := f.record("s", true, t0.Add(59*time.Minute)); exp {
		t.Fatal("expired early")
	}
	f.record("s", false, t0.Add(59*time.Minute))
	f.record("s", true, t0.Add(61*time.Minute))
	if _, exp := f.record("s", true, t0.Add(90*time.Minute)); exp {
		t.Fatal("a success did not restart the clock")
	}
	if since, exp := f.record("s", true, t0.Add(122*time.Minute)); !exp || !since.Equal(t0.Add(61*time.Minute)) {
		t.Fatalf("not expired after an hour of failures: %v %v", since, exp)
	}
}
