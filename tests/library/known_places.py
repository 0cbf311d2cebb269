"""Points whose city is known for certain (landmarks, both banks of rivers, both sides of borders).

Each entry: (lat, lon, what is there, names accepted as its city). Coordinates are the landmark's own, to about
100 m; the accepted names are the city the spot belongs to under the names GeoNames uses (a borough-level place
such as 'Manhattan' is accepted where GeoNames lists it as a populated place of its own).
"""

from __future__ import annotations

KnownPoint = tuple[float, float, str, tuple[str, ...]]

KNOWN_POINTS: list[KnownPoint] = [
    # Rivers and harbours with a different city on each side.
    (41.1406, -8.6132, "Porto, Cais da Ribeira (north bank of the Douro)", ("Porto",)),
    (41.1458, -8.6146, "Porto, Torre dos Clerigos", ("Porto",)),
    (41.1372, -8.6120, "Vila Nova de Gaia, Cais de Gaia (south bank)", ("Vila Nova de Gaia",)),
    (47.5070, 19.0456, "Budapest, Parliament (Pest)", ("Budapest",)),
    (47.4962, 19.0398, "Budapest, Buda Castle (Buda)", ("Budapest",)),
    (40.7484, -73.9857, "New York, Empire State Building (Manhattan)", ("New York City", "New York", "Manhattan")),
    (40.7178, -74.0431, "Jersey City, City Hall", ("Jersey City",)),
    (40.7359, -74.0303, "Hoboken, City Hall", ("Hoboken",)),
    (22.2940, 114.1686, "Kowloon, Star Ferry pier Tsim Sha Tsui", ("Kowloon", "Hong Kong", "Tsim Sha Tsui")),
    (22.2855, 114.1588, "Hong Kong Island, IFC Central", ("Hong Kong", "Central", "Victoria")),
    (50.9384, 6.9830, "Cologne, Deutz (LANXESS arena, right bank)", ("Köln", "Cologne")),
    (50.9413, 6.9583, "Cologne, Cathedral (left bank)", ("Köln", "Cologne")),
    (48.5818, 7.7510, "Strasbourg, Cathedral", ("Strasbourg",)),
    (48.5700, 7.8150, "Kehl, town centre (across the Rhine)", ("Kehl",)),
    (31.7597, -106.4886, "El Paso, San Jacinto Plaza", ("El Paso",)),
    (31.7380, -106.4870, "Ciudad Juarez, Cathedral", ("Ciudad Juárez", "Juárez")),
    (42.3293, -83.0398, "Detroit, Renaissance Center", ("Detroit",)),
    (42.3149, -83.0364, "Windsor (Ontario), downtown", ("Windsor",)),
    (44.9551, -93.1022, "Saint Paul, Minnesota State Capitol", ("Saint Paul", "St. Paul")),
    (44.9736, -93.2575, "Minneapolis, US Bank Stadium", ("Minneapolis",)),
    (42.3601, -71.0942, "Cambridge (MA), MIT", ("Cambridge",)),
    (42.3550, -71.0656, "Boston, Boston Common", ("Boston",)),
    (38.6916, -9.2160, "Lisbon, Belem Tower", ("Lisbon", "Lisboa")),
    (38.6786, -9.1714, "Almada, Cristo Rei (south bank of the Tagus)", ("Almada",)),
    (41.0086, 28.9802, "Istanbul, Hagia Sophia (European side)", ("Istanbul",)),
    (48.8926, 2.2360, "Puteaux, Grande Arche de la Defense", ("Puteaux",)),
    (41.9022, 12.4539, "Vatican City, St Peter's Basilica", ("Vatican City",)),
    # A smaller city beside a much larger one, which must not swallow it.
    (40.9312, -73.8988, "Yonkers, City Hall (beside New York City)", ("Yonkers",)),
    (40.7344, -74.1644, "Newark, Penn Station", ("Newark",)),
    (35.5313, 139.6970, "Kawasaki, station (beside Tokyo)", ("Kawasaki",)),
    (34.5733, 135.4830, "Sakai, City Hall (beside Osaka)", ("Sakai",)),
    (48.8848, 2.2686, "Neuilly-sur-Seine, town hall (beside Paris)", ("Neuilly-sur-Seine",)),
    (48.9356, 2.3598, "Saint-Denis, Basilica", ("Saint-Denis",)),
    (53.3934, -3.0148, "Birkenhead, Hamilton Square (across the Mersey from Liverpool)", ("Birkenhead",)),
    (42.3980, -83.0580, "Hamtramck, city centre (an enclave inside Detroit)", ("Hamtramck",)),
    # Landmarks in the middle of a city, every continent.
    (48.8584, 2.2945, "Paris, Eiffel Tower", ("Paris",)),
    (51.5007, -0.1246, "London, Big Ben", ("London", "Westminster", "City of Westminster")),
    (41.8902, 12.4922, "Rome, Colosseum", ("Rome", "Roma")),
    (41.4036, 2.1744, "Barcelona, Sagrada Familia", ("Barcelona",)),
    (52.5163, 13.3777, "Berlin, Brandenburg Gate", ("Berlin",)),
    (55.7539, 37.6208, "Moscow, Red Square", ("Moscow",)),
    (-33.8568, 151.2153, "Sydney, Opera House", ("Sydney",)),
    (-37.8183, 144.9671, "Melbourne, Flinders Street station", ("Melbourne",)),
    (-36.8485, 174.7622, "Auckland, Sky Tower", ("Auckland",)),
    (35.6586, 139.7454, "Tokyo, Tokyo Tower", ("Tokyo", "Minato")),
    (37.5796, 126.9770, "Seoul, Gyeongbokgung", ("Seoul",)),
    (1.2834, 103.8607, "Singapore, Marina Bay Sands", ("Singapore",)),
    (3.1579, 101.7116, "Kuala Lumpur, Petronas Towers", ("Kuala Lumpur",)),
    (27.1751, 78.0421, "Agra, Taj Mahal", ("Agra",)),
    (-1.2888, 36.8233, "Nairobi, KICC", ("Nairobi",)),
    (-33.9249, 18.4241, "Cape Town, city centre", ("Cape Town",)),
    (43.6426, -79.3871, "Toronto, CN Tower", ("Toronto",)),
    (37.8024, -122.4058, "San Francisco, Coit Tower", ("San Francisco",)),
    (19.4326, -99.1332, "Mexico City, Zocalo", ("Mexico City", "Ciudad de México")),
    (-34.6037, -58.3816, "Buenos Aires, Obelisco", ("Buenos Aires",)),
    (-22.9519, -43.2105, "Rio de Janeiro, Christ the Redeemer", ("Rio de Janeiro",)),
]
