package filter_test

import (
	"encoding/json"
	"fmt"

	"github.com/heraldhq/herald/pkg/filter"
)

func ExampleCompile() {
	rule, err := filter.Compile([]byte(`{"===":["$eventType","usercreatedevent"]}`))
	if err != nil {
		panic(err)
	}
	fmt.Println(string(rule.JSON())) // the form to store

	for _, event := range []string{`{"eventType":"usercreatedevent"}`, `{"eventType":"userupdatedevent"}`} {
		var data any // decode each event once, then match it against every rule
		if err := json.Unmarshal([]byte(event), &data); err != nil {
			panic(err)
		}
		matched, err := rule.Match(data)
		fmt.Println(matched, err)
	}

	_, err = filter.Compile([]byte(`{"and":[{"==":[1,2]},{"===":[1]}]}`))
	fmt.Println(err)
	// Output:
	// {"===":[{"var":"eventType"},"usercreatedevent"]}
	// true <nil>
	// false <nil>
	// filter: at and[1].===: needs 2 arguments, got 1
}
