// Package dispatcher is Herald's dispatcher service. It is not built yet: see DESIGN.md for its part in the
// data flow and the project's issues for its scope. This module exists so that go.work, the
// Makefile and CI already cover it.
package dispatcher
