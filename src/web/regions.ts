/**
 * Where each region is on the map: the cities of data/cities.tsv (the world's regions and client
 * cities, with their coordinates), bundled into the app. A region not listed there is shown beside
 * the map rather than on it.
 */
import citiesTsv from '../../data/cities.tsv?raw';

export interface Place {
  code: string;
  city: string;
  latitude: number;
  longitude: number;
}

export const places: ReadonlyMap<string, Place> = new Map(
  citiesTsv
    .trim()
    .split('\n')
    .slice(1)
    .map((line) => line.split('\t'))
    .map(([code, city, , latitude, longitude]) => [
      code,
      { code, city, latitude: Number(latitude), longitude: Number(longitude) },
    ]),
);
