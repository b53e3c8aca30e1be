package standalone_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/heraldhq/herald/pkg/kafkaconn"
	"github.com/heraldhq/herald/pkg/kafkaready"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
)

// selfSigned makes a CA-less certificate for 127.0.0.1 and writes it as the CA file too.
func selfSigned(t *testing.T) (tls.Certificate, string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "herald-test-broker"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, caFile
}

// TestServicesReachATLSAndSASLBroker checks the Dialer and Transport every service builds from
// HERALD_KAFKA_TLS / _TLS_CA_FILE / _SASL_* against a broker that requires both.
func TestServicesReachATLSAndSASLBroker(t *testing.T) {
	cert, caFile := selfSigned(t)
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "secured"),
		kfake.TLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}),
		kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-256", "herald", "s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	good := kafkaconn.Settings{TLS: true, TLSCAFile: caFile, SASLMechanism: "SCRAM-SHA-256", SASLUsername: "herald", SASLPassword: "s3cret"}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	dialer, _ := good.Dialer()
	transport, _ := good.Transport()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	if err := kafkaready.Check(ctx, dialer, brokers, 5*time.Second); err != nil {
		t.Fatalf("readiness with TLS and SCRAM: %v", err)
	}
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: "secured", Transport: transport, RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	defer w.Close()
	if err := w.WriteMessages(ctx, kafka.Message{Value: []byte(`{"eventType":"x"}`)}); err != nil {
		t.Fatalf("producing with TLS and SCRAM: %v", err)
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Dialer: dialer, Topic: "secured", Partition: 0, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	if m, err := r.ReadMessage(ctx); err != nil || string(m.Value) != `{"eventType":"x"}` {
		t.Fatalf("consuming with TLS and SCRAM: %q, %v", m.Value, err)
	}

	for name, bad := range map[string]kafkaconn.Settings{
		"wrong password": {TLS: true, TLSCAFile: caFile, SASLMechanism: "SCRAM-SHA-256", SASLUsername: "herald", SASLPassword: "nope"},
		"no SASL":        {TLS: true, TLSCAFile: caFile},
		"no TLS":         {SASLMechanism: "SCRAM-SHA-256", SASLUsername: "herald", SASLPassword: "s3cret"},
		"untrusted CA":   {TLS: true, SASLMechanism: "SCRAM-SHA-256", SASLUsername: "herald", SASLPassword: "s3cret"},
	} {
		d, _ := bad.Dialer()
		if err := kafkaready.Check(ctx, d, brokers, 2*time.Second); err == nil {
			t.Errorf("%s: the secured broker was reachable", name)
		}
	}
}
