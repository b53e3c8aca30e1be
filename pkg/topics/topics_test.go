package topics_test

import (
	"fmt"
	"testing"

	"github.com/heraldhq/herald/pkg/topics"
)

func TestNames(t *testing.T) {
	n := topics.Names{Prefix: "stg."}
	if got := n.Topic(topics.Deliveries); got != "stg.herald.deliveries" {
		t.Fatal(got)
	}
	if l, ok := n.Logical("stg.entity"); !ok || l != "entity" {
		t.Fatal(l, ok)
	}
	if _, ok := n.Logical("entity"); ok {
		t.Fatal("a topic without the prefix was taken as ours")
	}
	if got := fmt.Sprint(topics.Names{}.InputTopics()); got != "[participant entity container]" {
		t.Fatal(got)
	}
}

func ExampleNames() {
	n := topics.Names{Prefix: "staging."}
	fmt.Println(n.InputTopics(), n.Topic(topics.Invalid))
	// Output: [staging.participant staging.entity staging.container] staging.herald.invalid
}
