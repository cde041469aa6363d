/** A row type as it reads once serialized to JSON: each Date (or Date | null) becomes its ISO string. */
export type DatesAsText<T> = { [K in keyof T]: T[K] extends Date ? string : T[K] extends Date | null ? string | null : T[K] };
