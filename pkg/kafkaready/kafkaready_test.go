package kafkaready_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/heraldhq/herald/pkg/kafkaready"
	"github.com/heraldhq/herald/pkg/testenv"
)

func TestCheckFailsWithoutABroker(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	notKafka := l.Addr().String() // accepts connections but never answers
	defer l.Close()
	if err := kafkaready.Check(context.Background(), nil, []string{notKafka}, 300*time.Millisecond); err == nil {
		t.Fatal("a port that does not speak Kafka passed")
	}
	if err := kafkaready.Check(context.Background(), nil, nil, time.Second); err == nil {
		t.Fatal("no brokers passed")
	}
}

func TestCheckPassesWithTheBrokerUnderTest(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := l.Addr().String()
	l.Close() // refused: the next broker in the list must be tried
	if err := kafkaready.Check(context.Background(), nil, append([]string{dead}, brokers...), 5*time.Second); err != nil {
		t.Fatal(err)
	}
}
