// Package filter compiles and evaluates the JSON-logic rules ("filterLogic") that decide which
// events an endpoint receives.
//
// Rules are JSON logic as implemented by github.com/diegoholiveira/jsonlogic/v3 v3.5.1. That
// library checks little: some malformed rules evaluate silently to true ({"===":[1]},
// {"and":[{"bogus":1}]}), and some shapes make it evaluate parts of the event as if they were
// rules. [Compile] therefore checks every operation against a table of the supported operators,
// their number of arguments and the kinds of literal they accept, and reports the first problem
// as an [*Error] whose Path points at it (e.g. "and[1].==="). Operations may appear only as
// arguments of operations: jsonlogic never evaluates one inside a literal array such as
// ["DE", {"var":"country"}], so Compile rejects it.
//
// A string of the form "$name" (a "$", then a letter or "_", then letters, digits, "_" or ".")
// is a field reference: Compile rewrites it to {"var":"name"}, so the rule
// {"===":["$eventType","user.created"]} compares the event's eventType field. A string starting
// with "$$" is a literal starting with a single "$": "$$price" means the text "$price". Other
// strings are left alone. [Rule.JSON] returns the rule after this rewrite (keeping the "$$"
// escapes, so that compiling it again gives the same rule); that is the form to store.
//
// Limits: a rule is at most 16 KiB of JSON (before and after the rewrite), nests at most 32
// arrays and objects, and has at most 1,000 values. The iteration operators (map, filter, reduce,
// all, none, some) may not be nested in each other's per-element logic, because the cost of
// nested iteration grows with the product of the array lengths.
//
// Compile also hides some behaviour of jsonlogic v3.5.1 that differs from JSON logic as
// specified. The form it evaluates differs from the stored form as follows:
//   - "and" sees the truthiness of each argument. The library's "and" treats null as true and
//     returns the largest of its numbers.
//   - "if" becomes a chain of "?:". The library's "if" evaluates the value it picked a second
//     time, so an object in the event would be run as a rule.
//   - Inside the per-element logic of map, filter, all, none and some, a var reads the element.
//     The library first looks the path up in the whole event and pastes in what it finds.
//   - {"<":[a,b,c]} becomes a<b and b<c, for the same reason as "if".
//
// A compiled [Rule] is immutable and safe for concurrent use. [Rule.Match] takes an event that
// has already been decoded with encoding/json, so that one event is decoded once and then
// matched against many rules.
package filter
