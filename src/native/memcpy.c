/*
 * memcpy for the static musl build.
 *
 * musl's x86_64 memcpy is `rep movsq`, whose start-up cost dominates the many
 * short copies a request makes (string building, JSON, HTTP framing): in a
 * profile of the presign route it was a quarter of all CPU time. This version
 * copies short ranges with two overlapping loads/stores, medium ranges in
 * 16-byte SSE2 steps (baseline on x86_64), and leaves long ranges to
 * `rep movsb`, which is fast for large sizes on current CPUs.
 *
 * build.rs compiles this only for x86_64-unknown-linux-musl and links it with
 * `-Wl,--wrap=memcpy`, so every call to memcpy in the binary lands here.
 * The function is also exported as `oss_direct_upload_memcpy` so tests on any
 * target can check it against a byte-by-byte reference.
 *
 * Built with -fno-builtin -fno-tree-loop-distribute-patterns so the compiler
 * never turns these loops back into a call to memcpy.
 */
#include <stddef.h>
#include <stdint.h>
#include <emmintrin.h>

static inline void copy_small(unsigned char *d, const unsigned char *s, size_t n)
{
    /* 0..16 bytes: two possibly overlapping loads, then two stores. */
    if (n >= 8) {
        uint64_t a, b;
        __builtin_memcpy(&a, s, 8);
        __builtin_memcpy(&b, s + n - 8, 8);
        __builtin_memcpy(d, &a, 8);
        __builtin_memcpy(d + n - 8, &b, 8);
    } else if (n >= 4) {
        uint32_t a, b;
        __builtin_memcpy(&a, s, 4);
        __builtin_memcpy(&b, s + n - 4, 4);
        __builtin_memcpy(d, &a, 4);
        __builtin_memcpy(d + n - 4, &b, 4);
    } else if (n >= 2) {
        uint16_t a, b;
        __builtin_memcpy(&a, s, 2);
        __builtin_memcpy(&b, s + n - 2, 2);
        __builtin_memcpy(d, &a, 2);
        __builtin_memcpy(d + n - 2, &b, 2);
    } else if (n == 1) {
        *d = *s;
    }
}

void *oss_direct_upload_memcpy(void *restrict dst, const void *restrict src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;
    if (n <= 16) {
        copy_small(d, s, n);
        return dst;
    }
    if (n <= 512) {
        /* 16-byte steps, then one last (overlapping) 16-byte store for the tail. */
        __m128i tail = _mm_loadu_si128((const __m128i *)(s + n - 16));
        size_t i = 0;
        for (; i + 16 < n; i += 16) {
            _mm_storeu_si128((__m128i *)(d + i), _mm_loadu_si128((const __m128i *)(s + i)));
        }
        _mm_storeu_si128((__m128i *)(d + n - 16), tail);
        return dst;
    }
    __asm__ volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
    return dst;
}

#ifdef OSS_DIRECT_UPLOAD_WRAP_MEMCPY
void *__wrap_memcpy(void *restrict dst, const void *restrict src, size_t n)
{
    return oss_direct_upload_memcpy(dst, src, n);
}
#endif
