"""Infrastructure under every recipe stage: frozen config dataclasses and their CLI options,
user-facing errors, the content-addressed workspace, background jobs, executors (local or Ray),
progress, the device choice, the Hub probe and heap trimming. Imports no other ``ssae_core``
package."""
