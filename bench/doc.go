// Package bench runs sluice-bench's throughput measurements and writes
// their reports. Every measurement comes with a baseline measured in the
// same run, on the same cores, in alternating rounds, because the CPU may
// be shared and only a ratio survives a noisy neighbour.
//
// Data flow of a run:
//
//	gen.Scenario ─► gen.New (templates, keys) ─► Generator.Config (YAML)
//	  ─► Compile: control/config parses it, control.Builder compiles it
//	     into dataplane.Tables (what sluiced would run)
//	pipeline: per round, N dataplane.Workers on mem ports whose Source is
//	  a gen.Stream (frames written on the worker's goroutine), then N
//	  goroutines doing the bare crypto of the same frames (baseline.go)
//	afxdp: a veth Lab; per round, a bench/tx sender on the client end and,
//	  on the server end, one worker on an afxdp.Port (steering program,
//	  generic mode), then a bare AF_XDP receive-and-drop (baseline)
//	  ─► Row: best and median rates, ratio, allocations per packet, and
//	     the generator's expectation checked against the worker counters
//	  ─► Report: table (with a progress bar on a terminal), JSON, SVG,
//	     always with the CPU model
//
// bench imports control (besides ipsec, l2tp and dataplane) on purpose:
// the generated config is compiled by the same code the daemon uses, so
// the benchmark measures what an operator's YAML produces.
package bench
