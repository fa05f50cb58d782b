// --in-place for a weight larger than a tile: (A, B, S) -> (S, B, A) inside its file region,
// with pread/pwrite of bounded pieces, restartable after a kill at any moment, and a journal
// whose disk need is a step (about two tiles) rather than the tensor.
//
// An in-place permutation moves data across the whole tensor, so it is done as a schedule of
// phases, each a sequence of steps that only depend on where the step starts:
//   * the A x (B*S) transpose (A, B*S) -> (B*S, A), as either
//       blocks of u | B*S elements, A x (B*S/u) of them transposed by cycle-following, then
//       each (A, u) chunk transposed on its own (A*u elements <= two tiles), or
//       each (t, B*S) chunk transposed on its own (t | A, t*B*S elements <= two tiles), then
//       blocks of t elements, (A/t) x (B*S) of them transposed by cycle-following,
//     whichever gives the larger block;
//   * (B, S, A) -> (S, B, A): B x S blocks of A elements transposed by cycle-following.
// A chunk step reads whole chunks (<= two tiles), permutes them with the in-place kernel and
// writes them back. A cycle step takes the next moves of the cycles (leaders in increasing
// order, a visited bit per block), up to a tile of blocks: it reads every block the moves
// touch, then writes each destination from its source's value at the step's start (a cycle
// reads every block before it writes it, so that is what moving one by one would do).
//
// Before a step writes anything, a step record (lib/io/step_journal.h) holds where the step starts
// (phase, lane, cycle leader, position in the cycle, the value carried around the cycle) and
// the bytes it will overwrite; the data file is fdatasync'd after the step. Recovery writes
// the last step's bytes back, which puts the region exactly where that step started, and the
// rerun continues from there (the visited bits of a cycle phase are recomputed from the
// position by walking the index cycles, without touching data).
//
// Memory: a chunk buffer of two tiles plus the in-place kernel's scratch, or a cycle step's
// buffers (at most three tiles), plus a visited bit per block of the current cycle phase (e.g.
// 4096 x 4096 x 4 x 4 floats, 8 MiB tiles: 256 K blocks of 4 KiB -> 32 KiB). Nothing is mapped,
// so resident memory does not count the tensor's file pages. Disk: the two step files hold at
// most two steps, each at most two tiles of saved bytes plus a quarter tile of ranges.
// Dimensions without divisors of a useful size (primes) give one-element blocks: correct, but a
// pread and a pwrite per element.
#pragma once

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "lib/io/external_region.h"
#include "lib/io/step_journal.h"
#include "tflayout/pass.h"

namespace tflayout {

// Writes the saved bytes of an interrupted step (a step record's payload) back into the data
// file `data_fd` and syncs it: the region is then as it was when that step started.
absl::Status UndoJournaledStep(const std::string& payload, int data_fd,
                               const std::string& data_path);

// Permutes `region` of `data_fd` in place, recording each step in `journal`. `resume`: the
// payload of the last step record an interrupted run left for this region (already undone),
// or empty to start from the beginning; when given, its tile size is used.
absl::Status PermuteRegionJournaled(const ExternalRegion& region, int data_fd,
                                    const WeightStore::Permute& permute, size_t tile_bytes,
                                    const std::string& resume, StepJournal& journal);

}  // namespace tflayout
