// Package bench measures Herald end to end on this machine, against a baseline measured in the
// same run: a bare Go HTTP POST loop on loopback, the ceiling for any webhook sender here.
//
// Every figure is reported with its ratio to the baseline, because absolute numbers move with
// the machine and its neighbours. The phases are: the baseline; Herald saturated (events
// produced as fast as Kafka takes them → matcher → dispatcher → loopback receivers) for
// throughput; Herald paced at a fraction of that throughput for latency below saturation;
// the matcher alone; the dispatcher alone. All servers (kfake, FerretDB, the services, the
// receivers) run in this one process, so peak RSS and CPU per delivery cover all of them.
package bench
