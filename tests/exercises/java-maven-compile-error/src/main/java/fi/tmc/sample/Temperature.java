package fi.tmc.sample;

/** A submission that does not compile: a variable that was never declared. */
public class Temperature {
	public static double toFahrenheit(double celsius) {
		return celsius * 9 / 5 + 32;
	}

	public static double toKelvin(double celsius) {
		return celsius + absoluteZeroOffset;
	}

	public static double fromFahrenheit(double fahrenheit) {
		return (fahrenheit - 32) * 5 / 9;
	}
}
