// Package envconfig reads a service's settings from environment variables (HERALD_*) into its
// Config struct. A Loader collects every bad value instead of stopping at the first, so a
// misconfigured deployment learns about all its mistakes at once, each named by its variable.
package envconfig
