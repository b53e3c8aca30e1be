// Package kafkaready answers readiness probes: can this process reach a Kafka broker now?
package kafkaready

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// Check connects to the brokers in turn and asks the first that answers for the cluster's
// brokers (a metadata round trip, so a port that accepts but does not speak Kafka fails). It
// returns nil as soon as one answers.
// d carries TLS and SASL (nil: plaintext).
func Check(ctx context.Context, d *kafka.Dialer, brokers []string, timeout time.Duration) error {
	if d == nil {
		d = &kafka.Dialer{}
	}
	if len(brokers) == 0 {
		return errors.New("kafkaready: no broker configured")
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var errs []error
	for _, b := range brokers {
		conn, err := d.DialContext(ctx, "tcp", b)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		_ = conn.SetDeadline(time.Now().Add(timeout))
		_, err = conn.Brokers()
		_ = conn.Close()
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	return fmt.Errorf("kafkaready: no broker answered: %w", errors.Join(errs...))
}
