"""The energy-meter seam: how much energy one job used, and how that figure was obtained.

A meter is started before a job runs and stopped after it; it returns an `EnergyReading` in
joules, by device, with the method that produced it ("rapl", "nvml", "cpu-time-model"...), which
is stored next to every figure. `registry.open_meters` picks the best meters this machine has.
Every module here imports only the standard library at its top: the job worker imports this
package and must start fast; psutil and pynvml are imported where they are used.
"""
