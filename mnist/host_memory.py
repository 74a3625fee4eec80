"""Keep the memory a CPU training step frees for the next step, instead of glibc's malloc handing
it back to the operating system and faulting it in again one 4 KiB page at a time.

A step allocates and frees tens of megabytes (activations, gradients). By default glibc returns
the free memory at the top of its heap to the system whenever more than its trim threshold is
free, a threshold it moves to twice the largest mapped block freed so far: a few MB here, until
the first test pass (1,000 images a batch) frees blocks big enough to raise it. Until then every
step starts on fresh pages: `tiny` at batch 128 took about 10,700 page faults a step and 75-80
ms instead of 46-48 ms on a 2-core AMD EPYC, so that its first epoch took 37-40 s instead of 23.
Setting the thresholds once (as the MALLOC_*_THRESHOLD_ environment variables would, or
PyTorch's tuning guide's jemalloc/tcmalloc, which need a system package) keeps the pages from the
first step on. Nothing else changes: the arithmetic, and so every result, is the same.
"""

import ctypes
import platform

# mallopt parameters, from glibc's <malloc.h>
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
# Blocks up to 32 MiB (the ceiling of glibc's own moving threshold on 64-bit systems, which
# every version accepts) come from the heap, not from a fresh mapping each time: a step's blocks
# at batch 128 are 1-5 MB.
HEAP_BLOCK_BYTES = 32 * 2**20
# Freed memory at the top of the heap is kept up to this much: more than a step of any model
# here frees, so that after the first step the heap is used again, never given back.
KEEP_FREE_BYTES = 2**30


def keep_freed_memory() -> bool:
    """Tell glibc's malloc to keep a step's freed memory for the next; False (and nothing
    changed) where the C library is not glibc (macOS, Windows, musl)."""
    if platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(None)  # the running process's symbols, glibc's mallopt among them
    heap_blocks = libc.mallopt(M_MMAP_THRESHOLD, HEAP_BLOCK_BYTES)
    return bool(heap_blocks and libc.mallopt(M_TRIM_THRESHOLD, KEEP_FREE_BYTES))
