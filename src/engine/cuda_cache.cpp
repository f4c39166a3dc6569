// Empties the CUDA caching allocator so the next model (or another GPU program) gets the
// memory back. tch exposes no binding for it.
#ifdef RENDER_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

extern "C" int render_cuda_empty_cache() {
#ifdef RENDER_WITH_CUDA
  try {
    c10::cuda::CUDACachingAllocator::emptyCache();
    return 0;
  } catch (...) {
    return -1;
  }
#else
  return 1;
#endif
}
