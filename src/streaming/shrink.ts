/**
 * When a stream's reused buffer gives memory back: a slow stream holds its buffer for its whole life, and thousands
 * of them may be open at once, so one that a run of uses fills to under an eighth is halved (not for one short use
 * in a fast stream), never below `min`.
 */
const SHRINK_AFTER = 16;

export class ShrinkingSize {
  private small = 0;

  constructor(private readonly min: number) {}

  /** The size the buffer should have for its next use, after one that used `used` of its `size` bytes. */
  after(used: number, size: number): number {
    this.small = used < size / 8 ? this.small + 1 : 0;
    if (this.small < SHRINK_AFTER || size <= this.min) return size;
    this.small = 0;
    return size / 2;
  }
}
