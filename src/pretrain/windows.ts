/**
 * The sequences the masked LM reads from one text's tokens (special tokens not included): the
 * tokens cut into consecutive windows of maxLength - 2, each wrapped as [CLS] window [SEP], at most
 * `windows` of them from the start. One window is what a classifier of that length reads (the text
 * truncated); more let pretraining read the rest of long texts too: a newsgroup post's first 128
 * tokens are mostly its headers, its body comes after. A text with no tokens gives one [CLS] [SEP]
 * (nothing to predict: the trainer skips it).
 */
export function textWindows(tokens: number[], maxLength: number, windows: number, clsId: number, sepId: number): number[][] {
  const room = maxLength - 2;
  if (room < 1) throw new Error(`max length ${maxLength} leaves no room for tokens between [CLS] and [SEP]`);
  if (!Number.isInteger(windows) || windows < 1) throw new Error(`windows must be a whole number >= 1, not ${windows}`);
  const out: number[][] = [];
  for (let start = 0; out.length < windows && (start < tokens.length || out.length === 0); start += room) {
    out.push([clsId, ...tokens.slice(start, start + room), sepId]);
  }
  return out;
}
