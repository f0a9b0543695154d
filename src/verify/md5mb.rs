//! Multi-buffer MD5: many independent files hashed at once, one per 32-bit lane of a SIMD
//! register. MD5 cannot go faster within one stream (every step waits for the one before), but
//! the steps of 8 (AVX2) or 16 (AVX-512) streams run side by side at the cost of one.
//!
//! [`MultiMd5::run`] keeps every lane busy from a [`Feed`]: a lane whose file ends takes the next
//! one, so a database of small files wastes no lanes. Each lane reads its file in chunks into its
//! own part of one buffer; a step hashes the blocks every lane has ready; a lane at its end is
//! finished with its padding blocks in the same kernel. When the feed is dry and only a few long
//! files are left, their lanes go on with the scalar compression of the `md-5` crate, which
//! takes over the lane's state as it is.
//!
//! The kernel is chosen at run time ([`Kernel::detect`]); `RESCUE_MD5=scalar|avx2|avx512` asks
//! for one (never one the CPU lacks), for tests and benchmarks. Elsewhere than x86-64 it is the
//! scalar one.

use std::io::{self, Read};

use md5::block_api::compress as compress_scalar;

/// The most lanes any kernel has.
const MAX_LANES: usize = 16;
/// Bytes each lane reads at a time: small enough that what read(2) copied is still in cache
/// when the kernel reads it.
const CHUNK: usize = 16 << 10;
/// A lane's part of the buffer: its chunk, then room for its two padding blocks.
const SPAN: usize = CHUNK + 128;
const IV: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];

/// How blocks are compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    /// One stream at a time (the `md-5` crate).
    Scalar,
    /// 8 streams in the lanes of 256-bit registers.
    Avx2,
    /// 16 streams in the lanes of 512-bit registers.
    Avx512,
}

impl Kernel {
    /// The widest kernel this CPU runs.
    pub fn detect() -> Kernel {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return Kernel::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                return Kernel::Avx2;
            }
        }
        Kernel::Scalar
    }

    /// [`Kernel::detect`], or the one `RESCUE_MD5` names when this CPU runs it.
    pub fn chosen() -> Kernel {
        let best = Kernel::detect();
        let asked = match std::env::var("RESCUE_MD5").as_deref() {
            Ok("scalar") => Kernel::Scalar,
            Ok("avx2") => Kernel::Avx2,
            Ok("avx512") => Kernel::Avx512,
            _ => return best,
        };
        if asked.lanes() <= best.lanes() {
            asked
        } else {
            best
        }
    }

    /// Streams hashed at once.
    pub fn lanes(self) -> usize {
        match self {
            Kernel::Scalar => 1,
            Kernel::Avx2 => 8,
            Kernel::Avx512 => 16,
        }
    }

    /// Below this many busy lanes, with nothing left to feed them, scalar is faster than a
    /// kernel step that carries the idle lanes along.
    fn scalar_below(self) -> usize {
        match self {
            Kernel::Scalar => usize::MAX,
            Kernel::Avx2 => 2,
            Kernel::Avx512 => 3,
        }
    }
}

/// Where [`MultiMd5::run`] takes its inputs and leaves their digests.
pub trait Feed {
    /// What the caller needs to know which input a digest is for.
    type Tag;
    type Input: Read;
    /// The next input to hash; `None` when there are no more.
    fn next(&mut self) -> Option<(Self::Tag, Self::Input)>;
    /// An input's digest of everything it yielded up to end of file, or the error that
    /// stopped reading it.
    fn done(&mut self, tag: Self::Tag, input: Self::Input, digest: io::Result<[u8; 16]>);
    /// `bytes` more were read (for a progress line).
    fn read(&mut self, _bytes: usize) {}
}

/// One lane's stream: its input, what of its chunk is still to hash, and its length so far.
struct Lane<T, R> {
    job: Option<(T, R)>,
    start: usize,
    end: usize,
    length: u64,
    /// Padding blocks ready after end of file (1 or 2); 0 while reading.
    tail: usize,
}

/// A multi-buffer MD5 hasher: one per thread, reused for every input of a run.
pub struct MultiMd5 {
    kernel: Kernel,
    /// Every lane's [`SPAN`], then one zero block for idle lanes.
    buffer: Vec<u8>,
    /// The state words of every lane: `state[0][lane]` is its A.
    state: [[u32; MAX_LANES]; 4],
}

impl MultiMd5 {
    pub fn new(kernel: Kernel) -> MultiMd5 {
        let kernel = if kernel.lanes() <= Kernel::detect().lanes() {
            kernel
        } else {
            Kernel::detect()
        };
        MultiMd5 {
            kernel,
            buffer: vec![0; kernel.lanes() * SPAN + 64],
            state: [[0; MAX_LANES]; 4],
        }
    }

    pub fn kernel(&self) -> Kernel {
        self.kernel
    }

    /// Hashes every input `feed` gives until it gives no more and every lane is done.
    pub fn run<F: Feed>(&mut self, feed: &mut F) {
        let width = self.kernel.lanes();
        let mut lanes: Vec<Lane<F::Tag, F::Input>> = (0..width)
            .map(|_| Lane {
                job: None,
                start: 0,
                end: 0,
                length: 0,
                tail: 0,
            })
            .collect();
        let mut dry = false;
        loop {
            for (index, lane) in lanes.iter_mut().enumerate() {
                self.fill(index, lane, feed, &mut dry);
            }
            let busy = lanes.iter().filter(|lane| lane.job.is_some()).count();
            if busy == 0 {
                return;
            }
            let scalar = dry || self.kernel == Kernel::Scalar;
            if scalar && busy < self.kernel.scalar_below() {
                self.scalar_step(&mut lanes);
            } else {
                self.kernel_step(&mut lanes);
            }
            for (index, lane) in lanes.iter_mut().enumerate() {
                if lane.tail == usize::MAX {
                    if let Some((tag, input)) = lane.job.take() {
                        feed.done(tag, input, Ok(self.digest(index)));
                    }
                    lane.tail = 0;
                }
            }
        }
    }

    /// Gives lane `index` blocks to hash: a new input when it has none (unless the feed is
    /// dry), more of its input when less than a block is left, its padding at end of file.
    fn fill<F: Feed>(
        &mut self,
        index: usize,
        lane: &mut Lane<F::Tag, F::Input>,
        feed: &mut F,
        dry: &mut bool,
    ) {
        let base = index * SPAN;
        loop {
            let Some((_, input)) = lane.job.as_mut() else {
                if *dry {
                    return;
                }
                let Some(job) = feed.next() else {
                    *dry = true;
                    return;
                };
                lane.job = Some(job);
                (lane.start, lane.end, lane.length, lane.tail) = (0, 0, 0, 0);
                for (word, iv) in IV.iter().enumerate() {
                    self.state[word][index] = *iv;
                }
                continue;
            };
            if lane.tail > 0 || lane.end - lane.start >= 64 {
                return;
            }
            let left = lane.end - lane.start;
            self.buffer
                .copy_within(base + lane.start..base + lane.end, base);
            (lane.start, lane.end) = (0, left);
            match input.read(&mut self.buffer[base + left..base + CHUNK]) {
                Ok(0) => {
                    lane.tail = pad(&mut self.buffer[base..base + SPAN], left, lane.length);
                    (lane.start, lane.end) = (CHUNK, CHUNK + 64 * lane.tail);
                }
                Ok(n) => {
                    lane.end += n;
                    lane.length += n as u64;
                    feed.read(n);
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => {
                    if let Some((tag, input)) = lane.job.take() {
                        feed.done(tag, input, Err(err));
                    }
                }
            }
        }
    }

    /// Hashes each busy lane's ready blocks one lane at a time.
    fn scalar_step<T, R>(&mut self, lanes: &mut [Lane<T, R>]) {
        for (index, lane) in lanes.iter_mut().enumerate() {
            if lane.job.is_none() {
                continue;
            }
            let blocks = (lane.end - lane.start) / 64;
            let at = index * SPAN + lane.start;
            let (blocks, _) = self.buffer[at..at + blocks * 64].as_chunks::<64>();
            let mut state = [0u32; 4];
            for (word, value) in state.iter_mut().enumerate() {
                *value = self.state[word][index];
            }
            compress_scalar(&mut state, blocks);
            for (word, value) in state.iter().enumerate() {
                self.state[word][index] = *value;
            }
            consume(lane, blocks.len());
        }
    }

    /// Hashes as many blocks of every busy lane as all of them have ready, in one kernel call.
    fn kernel_step<T, R>(&mut self, lanes: &mut [Lane<T, R>]) {
        let width = self.kernel.lanes();
        let zero = width * SPAN;
        let mut offsets = [zero as i32; MAX_LANES];
        let mut strides = [0i32; MAX_LANES];
        let mut steps = usize::MAX;
        for (index, lane) in lanes.iter().enumerate() {
            if lane.job.is_some() {
                offsets[index] = (index * SPAN + lane.start) as i32;
                strides[index] = 64;
                steps = steps.min((lane.end - lane.start) / 64);
            }
        }
        if steps == usize::MAX || steps == 0 {
            return;
        }
        self.buffer[zero..zero + 64].fill(0);
        compress_lanes(
            self.kernel,
            &mut self.state,
            &self.buffer,
            &offsets,
            &strides,
            steps,
        );
        for lane in lanes.iter_mut().filter(|lane| lane.job.is_some()) {
            consume(lane, steps);
        }
    }

    fn digest(&self, index: usize) -> [u8; 16] {
        let mut digest = [0u8; 16];
        for (word, bytes) in digest.chunks_exact_mut(4).enumerate() {
            bytes.copy_from_slice(&self.state[word][index].to_le_bytes());
        }
        digest
    }
}

/// Marks `blocks` of `lane` hashed; a lane whose padding is all hashed is marked done
/// (`tail == usize::MAX`).
fn consume<T, R>(lane: &mut Lane<T, R>, blocks: usize) {
    lane.start += blocks * 64;
    if lane.tail > 0 && lane.start == lane.end {
        lane.tail = usize::MAX;
    }
}

/// Writes the padding blocks of a stream of `length` bytes, whose last `left` (< 64) bytes
/// start `span`, at `span[CHUNK..]`; returns how many (1 or 2).
fn pad(span: &mut [u8], left: usize, length: u64) -> usize {
    let (chunk, tail) = span.split_at_mut(CHUNK);
    tail.fill(0);
    tail[..left].copy_from_slice(&chunk[..left]);
    tail[left] = 0x80;
    let blocks = if left + 9 <= 64 { 1 } else { 2 };
    tail[blocks * 64 - 8..blocks * 64].copy_from_slice(&length.wrapping_mul(8).to_le_bytes());
    blocks
}

/// Runs `steps` blocks through the kernel for each lane; lane `i`'s block `s` starts at
/// `offsets[i] + s * strides[i]` in `buffer` (stride 0 repeats one block for an idle lane).
fn compress_lanes(
    kernel: Kernel,
    state: &mut [[u32; MAX_LANES]; 4],
    buffer: &[u8],
    offsets: &[i32; MAX_LANES],
    strides: &[i32; MAX_LANES],
    steps: usize,
) {
    let lanes = kernel.lanes();
    for lane in 0..lanes {
        let last = offsets[lane] as usize + (steps - 1) * strides[lane] as usize + 64;
        assert!(
            offsets[lane] >= 0 && last <= buffer.len(),
            "lane outside its buffer"
        );
    }
    match kernel {
        // SAFETY: every block read lies inside `buffer` (checked above), and the kernel is one
        // this CPU runs (MultiMd5::new never picks a wider one than Kernel::detect).
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2 => unsafe { x86::compress8(state, buffer.as_ptr(), offsets, strides, steps) },
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512 => unsafe {
            x86::compress16(state, buffer.as_ptr(), offsets, strides, steps)
        },
        _ => {
            for lane in 0..lanes {
                let mut one = [
                    state[0][lane],
                    state[1][lane],
                    state[2][lane],
                    state[3][lane],
                ];
                for step in 0..steps {
                    let at = offsets[lane] as usize + step * strides[lane] as usize;
                    let (block, _) = buffer[at..at + 64].as_chunks::<64>();
                    compress_scalar(&mut one, block);
                }
                for (word, value) in one.iter().enumerate() {
                    state[word][lane] = *value;
                }
            }
        }
    }
}

/// The 64 steps of MD5 on the state `$a..$d` with message words `$m`, each made by `$step`.
#[cfg(target_arch = "x86_64")]
macro_rules! md5_rounds {
    ($step:ident, $a:ident, $b:ident, $c:ident, $d:ident, $m:ident) => {
        $step!(f, $a, $b, $c, $d, $m[0], 0xd76aa478, 7, 25);
        $step!(f, $d, $a, $b, $c, $m[1], 0xe8c7b756, 12, 20);
        $step!(f, $c, $d, $a, $b, $m[2], 0x242070db, 17, 15);
        $step!(f, $b, $c, $d, $a, $m[3], 0xc1bdceee, 22, 10);
        $step!(f, $a, $b, $c, $d, $m[4], 0xf57c0faf, 7, 25);
        $step!(f, $d, $a, $b, $c, $m[5], 0x4787c62a, 12, 20);
        $step!(f, $c, $d, $a, $b, $m[6], 0xa8304613, 17, 15);
        $step!(f, $b, $c, $d, $a, $m[7], 0xfd469501, 22, 10);
        $step!(f, $a, $b, $c, $d, $m[8], 0x698098d8, 7, 25);
        $step!(f, $d, $a, $b, $c, $m[9], 0x8b44f7af, 12, 20);
        $step!(f, $c, $d, $a, $b, $m[10], 0xffff5bb1, 17, 15);
        $step!(f, $b, $c, $d, $a, $m[11], 0x895cd7be, 22, 10);
        $step!(f, $a, $b, $c, $d, $m[12], 0x6b901122, 7, 25);
        $step!(f, $d, $a, $b, $c, $m[13], 0xfd987193, 12, 20);
        $step!(f, $c, $d, $a, $b, $m[14], 0xa679438e, 17, 15);
        $step!(f, $b, $c, $d, $a, $m[15], 0x49b40821, 22, 10);
        $step!(g, $a, $b, $c, $d, $m[1], 0xf61e2562, 5, 27);
        $step!(g, $d, $a, $b, $c, $m[6], 0xc040b340, 9, 23);
        $step!(g, $c, $d, $a, $b, $m[11], 0x265e5a51, 14, 18);
        $step!(g, $b, $c, $d, $a, $m[0], 0xe9b6c7aa, 20, 12);
        $step!(g, $a, $b, $c, $d, $m[5], 0xd62f105d, 5, 27);
        $step!(g, $d, $a, $b, $c, $m[10], 0x02441453, 9, 23);
        $step!(g, $c, $d, $a, $b, $m[15], 0xd8a1e681, 14, 18);
        $step!(g, $b, $c, $d, $a, $m[4], 0xe7d3fbc8, 20, 12);
        $step!(g, $a, $b, $c, $d, $m[9], 0x21e1cde6, 5, 27);
        $step!(g, $d, $a, $b, $c, $m[14], 0xc33707d6, 9, 23);
        $step!(g, $c, $d, $a, $b, $m[3], 0xf4d50d87, 14, 18);
        $step!(g, $b, $c, $d, $a, $m[8], 0x455a14ed, 20, 12);
        $step!(g, $a, $b, $c, $d, $m[13], 0xa9e3e905, 5, 27);
        $step!(g, $d, $a, $b, $c, $m[2], 0xfcefa3f8, 9, 23);
        $step!(g, $c, $d, $a, $b, $m[7], 0x676f02d9, 14, 18);
        $step!(g, $b, $c, $d, $a, $m[12], 0x8d2a4c8a, 20, 12);
        $step!(h, $a, $b, $c, $d, $m[5], 0xfffa3942, 4, 28);
        $step!(h, $d, $a, $b, $c, $m[8], 0x8771f681, 11, 21);
        $step!(h, $c, $d, $a, $b, $m[11], 0x6d9d6122, 16, 16);
        $step!(h, $b, $c, $d, $a, $m[14], 0xfde5380c, 23, 9);
        $step!(h, $a, $b, $c, $d, $m[1], 0xa4beea44, 4, 28);
        $step!(h, $d, $a, $b, $c, $m[4], 0x4bdecfa9, 11, 21);
        $step!(h, $c, $d, $a, $b, $m[7], 0xf6bb4b60, 16, 16);
        $step!(h, $b, $c, $d, $a, $m[10], 0xbebfbc70, 23, 9);
        $step!(h, $a, $b, $c, $d, $m[13], 0x289b7ec6, 4, 28);
        $step!(h, $d, $a, $b, $c, $m[0], 0xeaa127fa, 11, 21);
        $step!(h, $c, $d, $a, $b, $m[3], 0xd4ef3085, 16, 16);
        $step!(h, $b, $c, $d, $a, $m[6], 0x04881d05, 23, 9);
        $step!(h, $a, $b, $c, $d, $m[9], 0xd9d4d039, 4, 28);
        $step!(h, $d, $a, $b, $c, $m[12], 0xe6db99e5, 11, 21);
        $step!(h, $c, $d, $a, $b, $m[15], 0x1fa27cf8, 16, 16);
        $step!(h, $b, $c, $d, $a, $m[2], 0xc4ac5665, 23, 9);
        $step!(i, $a, $b, $c, $d, $m[0], 0xf4292244, 6, 26);
        $step!(i, $d, $a, $b, $c, $m[7], 0x432aff97, 10, 22);
        $step!(i, $c, $d, $a, $b, $m[14], 0xab9423a7, 15, 17);
        $step!(i, $b, $c, $d, $a, $m[5], 0xfc93a039, 21, 11);
        $step!(i, $a, $b, $c, $d, $m[12], 0x655b59c3, 6, 26);
        $step!(i, $d, $a, $b, $c, $m[3], 0x8f0ccc92, 10, 22);
        $step!(i, $c, $d, $a, $b, $m[10], 0xffeff47d, 15, 17);
        $step!(i, $b, $c, $d, $a, $m[1], 0x85845dd1, 21, 11);
        $step!(i, $a, $b, $c, $d, $m[8], 0x6fa87e4f, 6, 26);
        $step!(i, $d, $a, $b, $c, $m[15], 0xfe2ce6e0, 10, 22);
        $step!(i, $c, $d, $a, $b, $m[6], 0xa3014314, 15, 17);
        $step!(i, $b, $c, $d, $a, $m[13], 0x4e0811a1, 21, 11);
        $step!(i, $a, $b, $c, $d, $m[4], 0xf7537e82, 6, 26);
        $step!(i, $d, $a, $b, $c, $m[11], 0xbd3af235, 10, 22);
        $step!(i, $c, $d, $a, $b, $m[2], 0x2ad7d2bb, 15, 17);
        $step!(i, $b, $c, $d, $a, $m[9], 0xeb86d391, 21, 11);
    };
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::MAX_LANES;

    #[target_feature(enable = "avx2")]
    fn f8(b: __m256i, c: __m256i, d: __m256i) -> __m256i {
        _mm256_xor_si256(d, _mm256_and_si256(b, _mm256_xor_si256(c, d)))
    }

    #[target_feature(enable = "avx2")]
    fn g8(b: __m256i, c: __m256i, d: __m256i) -> __m256i {
        _mm256_xor_si256(c, _mm256_and_si256(d, _mm256_xor_si256(b, c)))
    }

    #[target_feature(enable = "avx2")]
    fn h8(b: __m256i, c: __m256i, d: __m256i) -> __m256i {
        _mm256_xor_si256(_mm256_xor_si256(b, c), d)
    }

    #[target_feature(enable = "avx2")]
    fn i8(b: __m256i, c: __m256i, d: __m256i) -> __m256i {
        _mm256_xor_si256(
            c,
            _mm256_or_si256(b, _mm256_xor_si256(d, _mm256_set1_epi32(-1))),
        )
    }

    /// Rows of 8 words into columns: word `i` of every row in vector `i`.
    #[target_feature(enable = "avx2")]
    fn transpose8(r: [__m256i; 8]) -> [__m256i; 8] {
        let t0 = _mm256_unpacklo_epi32(r[0], r[1]);
        let t1 = _mm256_unpackhi_epi32(r[0], r[1]);
        let t2 = _mm256_unpacklo_epi32(r[2], r[3]);
        let t3 = _mm256_unpackhi_epi32(r[2], r[3]);
        let t4 = _mm256_unpacklo_epi32(r[4], r[5]);
        let t5 = _mm256_unpackhi_epi32(r[4], r[5]);
        let t6 = _mm256_unpacklo_epi32(r[6], r[7]);
        let t7 = _mm256_unpackhi_epi32(r[6], r[7]);
        let u0 = _mm256_unpacklo_epi64(t0, t2);
        let u1 = _mm256_unpackhi_epi64(t0, t2);
        let u2 = _mm256_unpacklo_epi64(t1, t3);
        let u3 = _mm256_unpackhi_epi64(t1, t3);
        let u4 = _mm256_unpacklo_epi64(t4, t6);
        let u5 = _mm256_unpackhi_epi64(t4, t6);
        let u6 = _mm256_unpacklo_epi64(t5, t7);
        let u7 = _mm256_unpackhi_epi64(t5, t7);
        [
            _mm256_permute2x128_si256::<0x20>(u0, u4),
            _mm256_permute2x128_si256::<0x20>(u1, u5),
            _mm256_permute2x128_si256::<0x20>(u2, u6),
            _mm256_permute2x128_si256::<0x20>(u3, u7),
            _mm256_permute2x128_si256::<0x31>(u0, u4),
            _mm256_permute2x128_si256::<0x31>(u1, u5),
            _mm256_permute2x128_si256::<0x31>(u2, u6),
            _mm256_permute2x128_si256::<0x31>(u3, u7),
        ]
    }

    /// 8 lanes of [`super::compress_lanes`].
    ///
    /// # Safety
    /// The CPU has AVX2; every block of every lane lies inside the buffer at `base`.
    #[target_feature(enable = "avx2")]
    pub unsafe fn compress8(
        state: &mut [[u32; MAX_LANES]; 4],
        base: *const u8,
        offsets: &[i32; MAX_LANES],
        strides: &[i32; MAX_LANES],
        steps: usize,
    ) {
        macro_rules! step {
            (f, $($rest:tt)*) => { step!(@ f8, $($rest)*) };
            (g, $($rest:tt)*) => { step!(@ g8, $($rest)*) };
            (h, $($rest:tt)*) => { step!(@ h8, $($rest)*) };
            (i, $($rest:tt)*) => { step!(@ i8, $($rest)*) };
            (@ $fun:ident, $a:ident, $b:ident, $c:ident, $d:ident, $m:expr, $k:literal, $s:literal, $r:literal) => {
                let t = _mm256_add_epi32(_mm256_add_epi32($a, _mm256_set1_epi32($k as u32 as i32)), $m);
                let t = _mm256_add_epi32(t, $fun($b, $c, $d));
                $a = _mm256_add_epi32(
                    $b,
                    _mm256_or_si256(_mm256_slli_epi32::<$s>(t), _mm256_srli_epi32::<$r>(t)),
                );
            };
        }
        let load = |word: usize| unsafe { _mm256_loadu_si256(state[word].as_ptr().cast()) };
        let (mut a, mut b, mut c, mut d) = (load(0), load(1), load(2), load(3));
        for block in 0..steps {
            // Two loads per lane and an 8x8 transpose each: cheaper than gathers.
            let mut low = [_mm256_setzero_si256(); 8];
            let mut high = [_mm256_setzero_si256(); 8];
            for lane in 0..8 {
                let at = offsets[lane] as usize + block * strides[lane] as usize;
                // SAFETY: the block lies inside the buffer (the caller's promise).
                unsafe {
                    low[lane] = _mm256_loadu_si256(base.add(at).cast());
                    high[lane] = _mm256_loadu_si256(base.add(at + 32).cast());
                }
            }
            let (low, high) = (transpose8(low), transpose8(high));
            let m: [__m256i; 16] =
                std::array::from_fn(|w| if w < 8 { low[w] } else { high[w - 8] });
            let (aa, bb, cc, dd) = (a, b, c, d);
            md5_rounds!(step, a, b, c, d, m);
            a = _mm256_add_epi32(a, aa);
            b = _mm256_add_epi32(b, bb);
            c = _mm256_add_epi32(c, cc);
            d = _mm256_add_epi32(d, dd);
        }
        for (word, value) in [a, b, c, d].into_iter().enumerate() {
            unsafe { _mm256_storeu_si256(state[word].as_mut_ptr().cast(), value) };
        }
    }

    /// Rows of 16 words into columns: word `i` of every row in vector `i`.
    #[target_feature(enable = "avx512f")]
    fn transpose16(r: [__m512i; 16]) -> [__m512i; 16] {
        // Pairs of rows interleaved by words, then by pairs of words: u[4k + j] holds words
        // j, j + 4, j + 8, j + 12 of rows 4k..4k + 4, one 128-bit chunk each.
        let t: [__m512i; 16] = std::array::from_fn(|i| {
            let (x, y) = (r[i & !1], r[i | 1]);
            if i % 2 == 0 {
                _mm512_unpacklo_epi32(x, y)
            } else {
                _mm512_unpackhi_epi32(x, y)
            }
        });
        let u: [__m512i; 16] = std::array::from_fn(|i| {
            let (group, j) = (i & !3, i & 3);
            let (x, y) = (t[group + (j >> 1)], t[group + (j >> 1) + 2]);
            if j % 2 == 0 {
                _mm512_unpacklo_epi64(x, y)
            } else {
                _mm512_unpackhi_epi64(x, y)
            }
        });
        // Then the 128-bit chunks gathered across the four groups of rows.
        let mut m = [_mm512_setzero_si512(); 16];
        for j in 0..4 {
            let low = _mm512_shuffle_i32x4::<0x44>(u[j], u[4 + j]);
            let high = _mm512_shuffle_i32x4::<0xee>(u[j], u[4 + j]);
            let low2 = _mm512_shuffle_i32x4::<0x44>(u[8 + j], u[12 + j]);
            let high2 = _mm512_shuffle_i32x4::<0xee>(u[8 + j], u[12 + j]);
            m[j] = _mm512_shuffle_i32x4::<0x88>(low, low2);
            m[j + 4] = _mm512_shuffle_i32x4::<0xdd>(low, low2);
            m[j + 8] = _mm512_shuffle_i32x4::<0x88>(high, high2);
            m[j + 12] = _mm512_shuffle_i32x4::<0xdd>(high, high2);
        }
        m
    }

    /// 16 lanes of [`super::compress_lanes`].
    ///
    /// # Safety
    /// The CPU has AVX-512F; every block of every lane lies inside the buffer at `base`.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn compress16(
        state: &mut [[u32; MAX_LANES]; 4],
        base: *const u8,
        offsets: &[i32; MAX_LANES],
        strides: &[i32; MAX_LANES],
        steps: usize,
    ) {
        macro_rules! step {
            (f, $($rest:tt)*) => { step!(@ 0xca, $($rest)*) };
            (g, $($rest:tt)*) => { step!(@ 0xe4, $($rest)*) };
            (h, $($rest:tt)*) => { step!(@ 0x96, $($rest)*) };
            (i, $($rest:tt)*) => { step!(@ 0x39, $($rest)*) };
            (@ $fun:literal, $a:ident, $b:ident, $c:ident, $d:ident, $m:expr, $k:literal, $s:literal, $r:literal) => {
                let t = _mm512_add_epi32(_mm512_add_epi32($a, _mm512_set1_epi32($k as u32 as i32)), $m);
                let t = _mm512_add_epi32(t, _mm512_ternarylogic_epi32::<$fun>($b, $c, $d));
                $a = _mm512_add_epi32($b, _mm512_rol_epi32::<$s>(t));
            };
        }
        let load = |word: usize| unsafe { _mm512_loadu_si512(state[word].as_ptr().cast()) };
        let (mut a, mut b, mut c, mut d) = (load(0), load(1), load(2), load(3));
        for block in 0..steps {
            // One load per lane and a 16x16 transpose: cheaper than gathers.
            let mut rows = [_mm512_setzero_si512(); 16];
            for (lane, row) in rows.iter_mut().enumerate() {
                let at = offsets[lane] as usize + block * strides[lane] as usize;
                // SAFETY: the block lies inside the buffer (the caller's promise).
                *row = unsafe { _mm512_loadu_si512(base.add(at).cast()) };
            }
            let m = transpose16(rows);
            let (aa, bb, cc, dd) = (a, b, c, d);
            md5_rounds!(step, a, b, c, d, m);
            a = _mm512_add_epi32(a, aa);
            b = _mm512_add_epi32(b, bb);
            c = _mm512_add_epi32(c, cc);
            d = _mm512_add_epi32(d, dd);
        }
        for (word, value) in [a, b, c, d].into_iter().enumerate() {
            unsafe { _mm512_storeu_si512(state[word].as_mut_ptr().cast(), value) };
        }
    }
}

/// A [`Feed`] over byte slices, for tests and benchmarks: the digests in input order.
struct Slices<'a> {
    inputs: &'a [&'a [u8]],
    next: usize,
    digests: Vec<[u8; 16]>,
}

impl<'a> Feed for Slices<'a> {
    type Tag = usize;
    type Input = &'a [u8];

    fn next(&mut self) -> Option<(usize, &'a [u8])> {
        let input = self.inputs.get(self.next)?;
        self.next += 1;
        Some((self.next - 1, input))
    }

    fn done(&mut self, tag: usize, _: &'a [u8], digest: io::Result<[u8; 16]>) {
        if let Ok(digest) = digest {
            self.digests[tag] = digest;
        }
    }
}

/// The MD5 of each of `inputs`, hashed with `kernel`.
pub fn digests(kernel: Kernel, inputs: &[&[u8]]) -> Vec<[u8; 16]> {
    let mut feed = Slices {
        inputs,
        next: 0,
        digests: vec![[0; 16]; inputs.len()],
    };
    MultiMd5::new(kernel).run(&mut feed);
    feed.digests
}

#[cfg(test)]
mod tests {
    use md5::{Digest, Md5};

    use super::*;

    /// Deterministic noise (xorshift64*), so a failure repeats.
    fn noise(seed: u64, len: usize) -> Vec<u8> {
        let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..len)
            .map(|_| {
                x ^= x >> 12;
                x ^= x << 25;
                x ^= x >> 27;
                (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
            })
            .collect()
    }

    fn kernels() -> Vec<Kernel> {
        let mut all = vec![Kernel::Scalar];
        if Kernel::detect().lanes() >= 8 {
            all.push(Kernel::Avx2);
        }
        if Kernel::detect().lanes() >= 16 {
            all.push(Kernel::Avx512);
        }
        all
    }

    fn check(kernel: Kernel, inputs: &[Vec<u8>]) {
        let slices: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
        let got = digests(kernel, &slices);
        for (input, got) in inputs.iter().zip(got) {
            let want: [u8; 16] = Md5::digest(input).into();
            assert_eq!(got, want, "{kernel:?}, {} bytes", input.len());
        }
    }

    #[test]
    fn every_length_up_to_4096() {
        let inputs: Vec<Vec<u8>> = (0..=4096).map(|len| noise(len as u64, len)).collect();
        for kernel in kernels() {
            check(kernel, &inputs);
        }
    }

    #[test]
    fn a_spread_up_to_8_mib_finishing_at_different_times() {
        let mut lengths = vec![8 << 20, 0, 1, 55, 56, 63, 64, 65, 119, 120, 128];
        lengths.extend([
            CHUNK - 1,
            CHUNK,
            CHUNK + 1,
            3 << 20,
            1 << 20,
            777_777,
            5,
            4 << 20,
        ]);
        lengths.extend((0..40).map(|n| (n * n * 5431) % (2 << 20)));
        let inputs: Vec<Vec<u8>> = lengths
            .iter()
            .enumerate()
            .map(|(seed, len)| noise(seed as u64 + 99, *len))
            .collect();
        for kernel in kernels() {
            check(kernel, &inputs);
            // Longest last: the long file alone in its lane at the end (the scalar tail).
            let mut reversed = inputs.clone();
            reversed.reverse();
            check(kernel, &reversed);
        }
    }

    /// Reads at most `step` bytes at a time, and fails after `fail_at` when set.
    struct Trickle {
        data: Vec<u8>,
        at: usize,
        step: usize,
        fail_at: Option<usize>,
    }

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.fail_at.is_some_and(|at| self.at >= at) {
                return Err(io::Error::from_raw_os_error(libc::EIO));
            }
            let n = self.step.min(buf.len()).min(self.data.len() - self.at);
            buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    struct Trickles {
        inputs: Vec<Trickle>,
        results: Vec<Option<io::Result<[u8; 16]>>>,
    }

    impl Feed for Trickles {
        type Tag = usize;
        type Input = Trickle;

        fn next(&mut self) -> Option<(usize, Trickle)> {
            let input = self.inputs.pop()?;
            Some((self.inputs.len(), input))
        }

        fn done(&mut self, tag: usize, _: Trickle, digest: io::Result<[u8; 16]>) {
            assert!(self.results[tag].is_none(), "input {tag} finished twice");
            self.results[tag] = Some(digest);
        }
    }

    #[test]
    fn short_reads_and_read_errors() {
        for kernel in kernels() {
            let inputs: Vec<Trickle> = (0..50)
                .map(|n| Trickle {
                    data: noise(n, n as usize * 3001),
                    at: 0,
                    step: [1, 7, 63, 64, 100, 5000][n as usize % 6],
                    fail_at: (n % 7 == 3).then_some(n as usize * 1000),
                })
                .collect();
            let expected: Vec<Option<[u8; 16]>> = inputs
                .iter()
                .map(|t| t.fail_at.is_none().then(|| Md5::digest(&t.data).into()))
                .collect();
            let mut feed = Trickles {
                results: (0..inputs.len()).map(|_| None).collect(),
                inputs,
            };
            MultiMd5::new(kernel).run(&mut feed);
            for (tag, (got, want)) in feed.results.into_iter().zip(expected).enumerate() {
                match (got, want) {
                    (Some(Ok(got)), Some(want)) => assert_eq!(got, want, "{kernel:?} {tag}"),
                    (Some(Err(err)), None) => assert_eq!(err.raw_os_error(), Some(libc::EIO)),
                    (got, _) => panic!("{kernel:?} input {tag}: {got:?}"),
                }
            }
        }
    }

    /// Raw throughput on in-memory data, each kernel on the same 64 inputs of 1 MiB: run by
    /// `cargo xtask bench md5` (release, `--ignored`), never by default.
    #[test]
    #[ignore]
    fn throughput() {
        let inputs: Vec<Vec<u8>> = (0..64).map(|n| noise(n, 1 << 20)).collect();
        let slices: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
        let bytes = (inputs.len() << 20) as f64;
        let start = std::time::Instant::now();
        for input in &slices {
            std::hint::black_box(Md5::digest(input));
        }
        let crate_rate = bytes / start.elapsed().as_secs_f64() / 1e6;
        println!("md5 throughput: md-5 crate, one stream: {crate_rate:.0} MB/s");
        for kernel in kernels() {
            let start = std::time::Instant::now();
            std::hint::black_box(digests(kernel, &slices));
            let rate = bytes / start.elapsed().as_secs_f64() / 1e6;
            let lanes = kernel.lanes();
            let ratio = rate / crate_rate;
            println!("md5 throughput: {kernel:?}, {lanes} lanes: {rate:.0} MB/s ({ratio:.2}x)");
        }
    }

    #[test]
    fn no_kernel_wider_than_the_cpu() {
        let best = Kernel::detect();
        for kernel in [Kernel::Scalar, Kernel::Avx2, Kernel::Avx512] {
            assert!(MultiMd5::new(kernel).kernel().lanes() <= best.lanes());
        }
    }
}
