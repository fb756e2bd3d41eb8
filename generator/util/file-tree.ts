/**
 * A tree of files in memory, as render makes it and as the update conversion
 * compares two of them: below the pipeline, so s6rc/ can read one without
 * depending on how it was made.
 */
export type TreeEntry =
  | { readonly kind: 'dir' }
  | { readonly kind: 'file'; readonly content: string; readonly mode: 0o644 | 0o755 };

/** Relative path -> entry, bytewise-sorted by path; parents precede children. */
export type FileTree = ReadonlyMap<string, TreeEntry>;
