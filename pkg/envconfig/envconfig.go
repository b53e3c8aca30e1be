package envconfig

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Loader reads variables through Lookup (os.LookupEnv when nil). Each method leaves *dst
// unchanged when the variable is unset or empty, so defaults set beforehand survive.
type Loader struct {
	Lookup func(name string) (string, bool)
	errs   []error
}

func (l *Loader) get(name string) (string, bool) {
	lookup := l.Lookup
	if lookup == nil {
		lookup = os.LookupEnv
	}
	v, ok := lookup(name)
	v = strings.TrimSpace(v)
	return v, ok && v != ""
}

func (l *Loader) fail(name, v, want string) {
	l.errs = append(l.errs, fmt.Errorf("%s=%q: want %s", name, v, want))
}

// String reads a string.
func (l *Loader) String(dst *string, name string) {
	if v, ok := l.get(name); ok {
		*dst = v
	}
}

// List reads a comma-separated list, dropping empty items.
func (l *Loader) List(dst *[]string, name string) {
	if v, ok := l.get(name); ok {
		var out []string
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
		*dst = out
	}
}

// Bool reads true/false/1/0.
func (l *Loader) Bool(dst *bool, name string) {
	if v, ok := l.get(name); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			l.fail(name, v, "true or false")
			return
		}
		*dst = b
	}
}

// Int reads a decimal integer.
func (l *Loader) Int(dst *int, name string) {
	if v, ok := l.get(name); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			l.fail(name, v, "an integer")
			return
		}
		*dst = n
	}
}

// Duration reads a Go duration such as 500ms or 1m.
func (l *Loader) Duration(dst *time.Duration, name string) {
	if v, ok := l.get(name); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			l.fail(name, v, "a duration such as 500ms, 10s or 1m")
			return
		}
		*dst = d
	}
}

// Parse hands the variable's value to parse, which stores it; an error is reported under the
// variable's name like any other bad value.
func (l *Loader) Parse(name string, parse func(string) error) {
	if v, ok := l.get(name); ok {
		if err := parse(v); err != nil {
			l.errs = append(l.errs, fmt.Errorf("%s=%q: %w", name, v, err))
		}
	}
}

// Err returns every bad value read so far, or nil.
func (l *Loader) Err() error { return errors.Join(l.errs...) }
