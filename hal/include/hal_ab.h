/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hal_ab — an in-process A/B for measuring a change to the packet path
 * (README, "The race", Method).
 *
 * This VM's cross-core latency flips between two regimes every few
 * seconds, which moves a run's rate more than most changes do. So the
 * two ways run in one process instead, alternating: built with
 * EXTRA_CFLAGS=-DVNET_AB, each datapath lcore sets hal_ab to 0 or 1 for
 * a phase of 2^30 TSC cycles (0.41 s at 2.6 GHz), 0 and 1 in turn, and
 * logs each finished phase's delivered frames as
 *   "AB phase=N way=W frames=F mpps=R busy=C"
 * (scripts/bench-race.sh BENCH_AB=1 runs virtnetd so and pairs the
 * neighbouring phases). Code under test picks the new way where HAL_AB()
 * is 1. In every other build HAL_AB() is the constant 0: the old way
 * only, and the compiler drops the new.
 */
#ifndef HAL_AB_H
#define HAL_AB_H

#ifdef VNET_AB
extern __thread unsigned hal_ab;
#define HAL_AB() (hal_ab)
#else
#define HAL_AB() 0u
#endif

#endif
