// Package bench measures Herald end to end on this machine, against a baseline measured in the
// same run: a bare Go HTTP POST loop on loopback, the ceiling for any webhook sender here.
//
// Every figure is reported with its ratio to the baseline, because absolute numbers move with
// the machine and its neighbours. The phases are: the baseline; Herald saturated (events
// produced as fast as Kafka takes them → matcher → dispatcher → loopback receivers) for
// throughput; Herald paced at a fraction of that throughput for latency below saturation;
// the matcher alone; the dispatcher alone. Each phase is set against a baseline measured right
// before it (the machine's speed drifts during a run); the saturated phase runs in rounds and
// reports the median ratio.
//
// The services and the receivers run in this process; the broker (kfake) and the store
// (FerretDB) run in a child process, herald-bench itself started with a hidden first argument
// (see ServeStandinsIfChild), so that their heap and collector are their own, as a real broker's
// would be, on one P (kfake serves every request on one goroutine). CPU per delivery counts
// both processes and gives the child's share and this process's garbage collector's; bytes
// allocated and peak RSS are this process's. The receivers count the connections they accept:
// a sender that keeps its connections alive opens none once warm.
package bench
