package signature_test

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/heraldhq/herald/pkg/signature"
)

func ExampleSigner() {
	key, err := signature.ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		panic(err)
	}
	signer := signature.NewSigner(key) // one per goroutine: a Signer reuses its hashers

	id, ts, body := "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`)
	req, _ := http.NewRequest(http.MethodPost, "https://receiver.example/hooks", nil)
	req.Header.Set(signature.HeaderID, id)
	req.Header.Set(signature.HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set(signature.HeaderSignature, signer.StandardWebhooks(id, ts, body))
	req.Header.Set(signature.HeaderHub, signer.Hub(body))

	fmt.Println(req.Header.Get(signature.HeaderSignature))
	fmt.Println(req.Header.Get(signature.HeaderHub))

	// The receiver's side.
	err = signature.Verify(key, id, ts, body, req.Header.Get(signature.HeaderSignature), ts.Add(time.Minute), 0)
	fmt.Println("verified:", err == nil)
	err = signature.Verify(key, id, ts, body, req.Header.Get(signature.HeaderSignature), ts.Add(time.Hour), 0)
	fmt.Println(err)
	// Output:
	// v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=
	// sha256=e2cb4f5251572539d458bfb8a7adb533b08801e6a794467e06f771debbb0818b
	// verified: true
	// signature: timestamp too old: 1h0m0s old, tolerance 5m0s
}

func ExampleSigner_rotation() {
	newKey := []byte("the new key, 24 bytes or more")
	oldKey := []byte("the old key, 24 bytes or more")
	ts := time.Unix(1614265330, 0)

	// While a secret rotates, both keys sign and a receiver holding either one accepts.
	header := signature.NewSigner(newKey, oldKey).StandardWebhooks("msg_1", ts, []byte("{}"))
	fmt.Println(signature.Verify(oldKey, "msg_1", ts, []byte("{}"), header, ts, 0))
	// Output: <nil>
}
