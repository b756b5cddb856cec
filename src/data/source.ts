import { cachedDownload, PINNED_SHA256, SOURCES } from '../io/download';
import { loadNewsgroups, Newsgroups } from './newsgroups';

/** Loads the data set from --data, or from the official archive downloaded into the cache. */
export async function loadData(data: string | undefined): Promise<{ data: Newsgroups; source: string }> {
  // The pinned hash holds for the default mirror; a BERT20NEWS_DATA_URL of one's own is checked by format only.
  const pin = process.env.BERT20NEWS_DATA_URL ? undefined : PINNED_SHA256.newsgroups;
  const source = data ?? (await cachedDownload(SOURCES.newsgroups, '20news-bydate.tar.gz', '--data <20news-bydate.tar.gz | folder>', pin));
  return { data: await loadNewsgroups(source), source };
}
