"""The demo world's vocabulary: domains, their concepts and the words that express them.

Each domain is a block of lines ``concept: surface form, surface form, ...``; a surface
form may span several words (every word of it is labelled with the concept). Concepts
are listed from most to least frequent inside their domain: the generator draws them
with Zipf weights by that rank. Some words are deliberately shared between domains
("field", "charge", "cell", "pressure", ...): which concept they express depends on
the document, as it does in real text. ``names`` makes up each concept's rare name words.
"""

import random

GENERAL = {
    "cooking": (
        """
        recipe: recipe, recipes
        oven: oven, ovens
        flour: flour
        soup: soup, soups
        spice: spice, spices, pepper
        bread: bread, loaf
        sauce: sauce, gravy
        dessert: dessert, cake, pie
        knife: knife, knives
        roast: roast, roasting
        dough: dough
        garlic: garlic, clove of garlic
    """
    ),
    "sports": (
        """
        team: team, teams, squad
        match: match, game, fixture
        goal: goal, goals
        coach: coach, manager
        league: league, cup
        player: player, players, striker
        stadium: stadium, arena
        fans: fans, crowd, supporters
        referee: referee, umpire
        wave: wave, mexican wave
        injury: injury, knock
        trophy: trophy, medal
    """
    ),
    "weather": (
        """
        rain: rain, rainfall, showers
        wind: wind, winds, breeze
        storm: storm, storms, thunder
        forecast: forecast, forecasts
        sun: sun, sunshine
        cloud: cloud, clouds
        snow: snow, snowfall
        temperature: temperature, temperatures
        pressure: pressure, low pressure
        fog: fog, mist
        frost: frost
        flood: flood, flooding
    """
    ),
    "travel": (
        """
        flight: flight, flights, plane
        hotel: hotel, hotels
        ticket: ticket, tickets
        beach: beach, coast
        passport: passport, visa
        luggage: luggage, suitcase
        museum: museum, gallery
        train: train, railway
        river: river, rivers
        current: current, river current
        island: island
        ferry: ferry, boat
    """
    ),
    "finance": (
        """
        money: money, cash
        bank: bank, banks
        price: price, prices, cost
        market: market, markets
        loan: loan, loans, mortgage
        tax: tax, taxes
        charge: charge, fee, charges
        profit: profit, profits
        investor: investor, investors
        interest: interest rate, interest
        budget: budget
        inflation: inflation
    """
    ),
    "music": (
        """
        song: song, songs, track
        band: band, bands
        guitar: guitar, guitars
        concert: concert, gig
        album: album, record
        singer: singer, vocalist
        drum: drum, drums
        piano: piano
        lyrics: lyrics, verse
        chorus: chorus
        culture: culture, music scene
        melody: melody, tune
    """
    ),
    "garden": (
        """
        garden: garden, gardens
        flower: flower, flowers, rose
        tree: tree, trees
        seed: seed, seeds
        soil: soil, compost
        field: field, meadow
        weed: weed, weeds
        hedge: hedge
        harvest: harvest
        tomato: tomato, tomatoes
        shed: shed
        pond: pond
    """
    ),
    "politics": (
        """
        government: government
        election: election, vote
        minister: minister, ministers
        party: party, parties
        law: law, bill
        council: council, mayor
        policy: policy, policies
        debate: debate
        power: power, authority
        protest: protest, protesters
        resistance: resistance, opposition
        treaty: treaty
    """
    ),
    "tech": (
        """
        computer: computer, laptop
        phone: phone, phones
        software: software, app
        network: network, internet
        screen: screen, display
        data: data
        battery: battery, charger
        password: password
        cell: cell phone, cell
        server: server, servers
        keyboard: keyboard
        robot: robot, robots
    """
    ),
    "animals": (
        """
        dog: dog, dogs, puppy
        cat: cat, cats, kitten
        bird: bird, birds
        horse: horse, horses
        fish: fish
        cow: cow, cattle
        rabbit: rabbit
        fox: fox
        owl: owl
        bee: bee, bees
        whale: whale
        turtle: turtle
    """
    ),
    "family": (
        """
        mother: mother, mum
        father: father, dad
        child: child, children, kids
        wedding: wedding, marriage
        birthday: birthday
        grandmother: grandmother, granny
        brother: brother, sister
        baby: baby
        school: school, teacher
        holiday: holiday, vacation
        home: home, house
        dinner: dinner, meal
    """
    ),
    "shopping": (
        """
        shop: shop, store, shops
        sale: sale, discount
        clothes: clothes, shirt, dress
        shoes: shoes, boots
        basket: basket, trolley
        receipt: receipt
        brand: brand, label
        delivery: delivery, parcel
        gift: gift, present
        coupon: coupon, voucher
        mall: mall
        refund: refund
    """
    ),
}

SUBDOMAINS = {
    "physics": (
        """
        energy: energy
        particle: particle, particles
        field: field, fields
        force: force, forces
        mass: mass
        wave: wave, waves, wavefunction
        quantum: quantum
        electron: electron, electrons
        charge: charge, electric charge
        photon: photon, photons
        momentum: momentum
        current: current, electric current
        pressure: pressure, gas pressure
        entropy: entropy
        spin: spin
        gravity: gravity, gravitation
        resistance: resistance, resistor
        power: power, wattage
        velocity: velocity
        magnet: magnet, magnetic
        lattice: lattice, crystal lattice
        proton: proton, protons
        neutron: neutron, neutrons
        laser: laser, lasers
        plasma: plasma
        boson: boson, bosons
        fermion: fermion, fermions
        hamiltonian: hamiltonian
        lagrangian: lagrangian
        relativity: relativity, spacetime
        black_hole: black hole, black holes
        neutrino: neutrino, neutrinos
        quark: quark, quarks
        superconductor: superconductor, superconductivity
        thermodynamics: thermodynamics
        interference: interference, fringes
        diffraction: diffraction
        oscillator: oscillator, harmonic oscillator
        tunneling: tunneling, tunnelling
        entanglement: entanglement, entangled
        decoherence: decoherence
        redshift: redshift
        isotope: isotope, isotopes
        fusion: fusion, fusion reactor
        fission: fission
        symmetry: symmetry breaking, symmetry
        eigenvalue: eigenvalue, eigenvalues
        renormalization: renormalization
        boltzmann: boltzmann constant, boltzmann
        cosmic_ray: cosmic ray, cosmic rays
    """
    ),
    "medicine": (
        """
        patient: patient, patients
        doctor: doctor, physician
        cell: cell, cells
        dose: dose, dosage
        pressure: blood pressure, pressure
        infection: infection, infections
        symptom: symptom, symptoms
        treatment: treatment, therapy
        virus: virus, viral
        surgery: surgery, operation
        vaccine: vaccine, vaccination
        heart: heart, cardiac
        tumor: tumor, tumour
        antibiotic: antibiotic, antibiotics
        resistance: drug resistance, resistance
        culture: blood culture, culture
        diagnosis: diagnosis, diagnostic
        nurse: nurse, nurses
        fever: fever
        kidney: kidney, renal
        liver: liver, hepatic
        insulin: insulin
        diabetes: diabetes, diabetic
        lung: lung, lungs, pulmonary
        antibody: antibody, antibodies
        inflammation: inflammation, inflamed
        biopsy: biopsy
        stroke: stroke
        anemia: anemia, anaemia
        sepsis: sepsis, septic
        asthma: asthma, inhaler
        arthritis: arthritis
        migraine: migraine
        platelet: platelet, platelets
        hemoglobin: hemoglobin, haemoglobin
        metastasis: metastasis, metastatic
        placebo: placebo
        anesthesia: anesthesia, anaesthetic
        dialysis: dialysis
        pathogen: pathogen, pathogens
        lymphocyte: lymphocyte, lymphocytes
        thrombosis: thrombosis, blood clot
        epilepsy: epilepsy, seizure
        hepatitis: hepatitis
        leukemia: leukemia, leukaemia
        cholesterol: cholesterol
        sclerosis: multiple sclerosis, sclerosis
        malaria: malaria
        tuberculosis: tuberculosis
        pancreatitis: pancreatitis
    """
    ),
}

# The profession a biography of each domain is about (``{J}``), never a concept form.
PROFESSIONS = {
    "cooking": "chef",
    "sports": "athlete",
    "weather": "meteorologist",
    "travel": "guide",
    "finance": "banker",
    "music": "musician",
    "garden": "gardener",
    "politics": "senator",
    "tech": "engineer",
    "animals": "zookeeper",
    "family": "nanny",
    "shopping": "retailer",
    "physics": "physicist",
    "medicine": "surgeon",
}

# Biography pronouns, subject and possessive, by cue: the spurious attribute of SHIFT's task.
PRONOUNS = {"she": ("she", "her"), "he": ("he", "his")}

# Per-domain verbs and adjectives: style, not concepts (never labelled).
STYLE = {
    "general": {
        "verb": (
            "like, see, find, need, want, love, check, share, try, keep, buy, bring, clean, fix,"
            " move, sell, watch, visit, order, build"
        ),
        "adj": (
            "good, new, big, small, nice, old, great, busy, quiet, local, cheap, simple, warm,"
            " cold, bright, dark, fresh, heavy, early, late"
        ),
    },
    "physics": {
        "verb": (
            "measure, derive, observe, compute, predict, constrain, probe, model, excite, couple,"
            " simulate, quantize, detect, scatter, confine, cool, heat, polarize, accelerate, decay"
        ),
        "adj": (
            "classical, stable, excited, linear, nonlinear, coherent, thermal, isotropic, weak,"
            " strong, relativistic, adiabatic, periodic, chiral, massive, massless, transverse,"
            " longitudinal, critical, metastable"
        ),
    },
    "medicine": {
        "verb": (
            "treat, diagnose, monitor, prescribe, reduce, assess, screen, manage, admit, examine,"
            " discharge, refer, stabilize, sedate, hydrate, transfuse, suture, intubate, palpate,"
            " auscultate"
        ),
        "adj": (
            "chronic, acute, severe, mild, clinical, elevated, benign, persistent, systemic,"
            " routine, malignant, congenital, bilateral, recurrent, idiopathic, postoperative,"
            " pediatric, geriatric, refractory, transient"
        ),
    },
}


def parse_block(block: str) -> list[tuple[str, list[str]]]:
    """Parse ``concept: form, form`` lines into (concept, surface forms), rank order kept."""
    concepts = []
    for line in block.strip().splitlines():
        name, forms = line.split(":", 1)
        concepts.append((name.strip(), [f.strip() for f in forms.split(",") if f.strip()]))
    return concepts


SYLLABLES = (
    "ka ko ki ru ra ro ve va vi ze zo mi mo na ne lu lo ta te sh"
    " dr gr br pl st tor mar len wix qu ul ob ix ar en"
).split()


def names(key: str, n: int, taken: set[str]) -> list[str]:
    """``n`` made-up name words for the concept ``key`` (2-3 syllables), none in ``taken``.

    Deterministic from ``key``; the names found are added to ``taken`` so that no two
    concepts share one. They play the part of real text's rare proper nouns and terms.
    """
    rng = random.Random(f"names-{key}")
    out: list[str] = []
    while len(out) < n:
        word = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3)))
        if word not in taken:
            taken.add(word)
            out.append(word)
    return out


def word_list(text: str) -> list[str]:
    """Split a comma-separated word list."""
    return [w.strip() for w in text.split(",") if w.strip()]
